//! The contract's start-up behaviour: `--help`, and one line naming the variable when the
//! configuration cannot work.

use std::process::Command;

fn chat_gateway() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_chat-gateway"));
    for var in [
        "DATABASE_URL",
        "JWKS_URL",
        "LISTEN_ADDR",
        "REDIS_URL",
        "WS_PING_INTERVAL_SECONDS",
        "WS_IDLE_TIMEOUT_SECONDS",
        "MESSAGE_DURABILITY",
        "WS_MAX_CONNECTIONS",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

fn stderr_of(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    (out.status.code(), String::from_utf8(out.stderr).unwrap())
}

/// The one line a start-up with `vars` (besides a JWKS_URL and a fresh DATA_DIR, which the
/// returned folder holds) stops with, exit status 2.
fn refusal_with(vars: &[(&str, &str)]) -> (String, tempfile::TempDir) {
    // A fresh DATA_DIR: the one in the working directory may be open to others (an older
    // version made it so), which is logged on this stderr too.
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = chat_gateway();
    cmd.env("DATA_DIR", dir.path().join("data")).env("JWKS_URL", "http://127.0.0.1:1/jwks").envs(vars.iter().copied());
    let (status, stderr) = stderr_of(&mut cmd);
    assert_eq!(status, Some(2), "{stderr}");
    (stderr, dir)
}

#[test]
fn without_jwks_url_it_stops_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (status, stderr) = stderr_of(chat_gateway().env("DATA_DIR", dir.path()).env("LISTEN_ADDR", "127.0.0.1:0"));
    assert_eq!(status, Some(2));
    assert_eq!(
        stderr,
        "chat-gateway: invalid configuration: JWKS_URL: required: where auth-api publishes its keys, \
         e.g. http://auth-api:8081/.well-known/jwks.json\n"
    );
}

#[test]
fn an_idle_timeout_not_above_the_ping_interval_is_refused() {
    let (stderr, _dir) = refusal_with(&[("WS_PING_INTERVAL_SECONDS", "30"), ("WS_IDLE_TIMEOUT_SECONDS", "30")]);
    assert_eq!(
        stderr,
        "chat-gateway: invalid configuration: WS_IDLE_TIMEOUT_SECONDS: must be longer than \
         WS_PING_INTERVAL_SECONDS (30 s), or live clients are cut off between pings\n"
    );
}

#[test]
fn a_bad_value_names_its_variable() {
    for (var, value) in [
        ("WS_SEND_QUEUE", "0"),
        ("PRESENCE_TTL_SECONDS", "soon"),
        ("REDIS_URL", "http://x"),
        ("MESSAGE_DURABILITY", "eventually"),
        ("WS_MAX_CONNECTIONS", "0"),
    ] {
        let (status, stderr) = stderr_of(chat_gateway().env(var, value));
        assert_eq!(status, Some(2), "{var}");
        assert!(stderr.starts_with(&format!("chat-gateway: invalid configuration: {var} (--")), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// Asynchronous commits are Postgres's: the embedded SQLite database is refused the setting
/// rather than silently keep syncing.
#[test]
fn async_durability_without_postgres_is_refused() {
    let (stderr, dir) = refusal_with(&[("MESSAGE_DURABILITY", "async")]);
    assert_eq!(
        stderr,
        "chat-gateway: invalid configuration: MESSAGE_DURABILITY: async needs Postgres (DATABASE_URL); the \
         embedded SQLite database commits every message to disk\n"
    );
    assert!(!dir.path().join("data").exists(), "refused before anything was created");
}

/// A port another process holds stops the start-up with one line naming `LISTEN_ADDR`, before
/// DATA_DIR and its database are created (they used to be, and were left behind).
#[test]
fn a_busy_port_is_one_line_and_creates_nothing() {
    let mut gateway = chat_gateway();
    gateway.env("JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json");
    testkit::startup::assert_busy_port_refused("chat-gateway", gateway);
}

#[test]
fn help_lists_the_variables() {
    let out = chat_gateway().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "LISTEN_ADDR",
        "DATABASE_URL",
        "REDIS_URL",
        "JWKS_URL",
        "WS_SEND_QUEUE",
        "WS_RATE_LIMIT_PER_SECOND",
        "PRESENCE_TTL_SECONDS",
        "SHUTDOWN_GRACE_SECONDS",
        "MESSAGE_DURABILITY",
        "WS_MAX_CONNECTIONS",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}
