//! The `chat-suite` binary on the embedded default, as `cargo run --release` starts it: an
//! empty environment but for the address, in a directory of its own.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

use serde_json::Value;

pub struct Suite {
    child: Child,
    dir: tempfile::TempDir,
    addr: String,
    /// `http://127.0.0.1:PORT`, from the `listening` line.
    pub base: String,
    /// The message of the line that tells a person where to go.
    pub ready: String,
}

impl Drop for Suite {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Suite {
    /// On a free port, in a new directory.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// [`start`](Self::start) with these variables set too.
    pub fn start_with(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (child, addr, ready) = spawn(dir.path(), "127.0.0.1:0", env);
        Self { child, dir, base: format!("http://{addr}"), addr, ready }
    }

    /// Kills the process, as a crash would.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The same address and data again.
    pub fn start_again(&mut self) {
        let (child, _, _) = spawn(self.dir.path(), &self.addr, &[]);
        self.child = child;
    }
}

/// Starts the binary and reads its log up to the line saying it is ready: the child, the
/// address it bound and that line.
fn spawn(dir: &Path, listen: &str, env: &[(&str, &str)]) -> (Child, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-suite"))
        .current_dir(dir)
        .env_clear()
        .env("LISTEN_ADDR", listen)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut addr = None;
    let ready = loop {
        let line = lines.next().expect("chat-suite exited before it was ready").unwrap();
        let Ok(log) = serde_json::from_str::<Value>(&line) else { continue };
        let message = log["message"].as_str().unwrap_or_default();
        if message == "chat-suite listening" {
            addr = Some(log["addr"].as_str().unwrap().to_owned());
        }
        if message.starts_with("chat-suite ready") {
            break message.to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    (child, addr.expect("no `listening` line before the `ready` one"), ready)
}
