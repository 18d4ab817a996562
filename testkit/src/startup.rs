//! What every binary does when it cannot start: one line naming what is wrong, and nothing
//! left behind.

use std::process::Command;

/// Runs `command` (the binary `bin`) with `LISTEN_ADDR` on a loopback port another socket
/// holds and `DATA_DIR` in a fresh folder, which is also its working directory, and asserts
/// that it exits 1 with one line naming `LISTEN_ADDR`, having created no `DATA_DIR`: it binds
/// before it creates anything. Returns the line and the folder for the caller's own checks.
pub fn assert_busy_port_refused(bin: &str, mut command: Command) -> (String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = held.local_addr().unwrap();
    let out = command
        .current_dir(dir.path())
        .env("DATA_DIR", dir.path().join("data"))
        .env("LISTEN_ADDR", addr.to_string())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with(&format!("{bin}: error: LISTEN_ADDR: cannot bind {addr}: ")), "{stderr}");
    assert!(!dir.path().join("data").exists(), "DATA_DIR was created");
    (stderr, dir)
}
