//! The contract's start-up behaviour: `--help`, and one line naming the variable when the
//! configuration cannot work.

use std::process::Command;

fn user_search() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_user-search"));
    for var in ["DATABASE_URL", "DATABASE_READ_URL", "JWKS_URL", "LISTEN_ADDR"] {
        cmd.env_remove(var);
    }
    cmd
}

#[test]
fn without_jwks_url_it_stops_with_one_line_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let out = user_search().env("DATA_DIR", dir.path()).env("LISTEN_ADDR", "127.0.0.1:0").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "user-search: invalid configuration: JWKS_URL: required: where auth-api publishes its keys, \
         e.g. http://auth-api:8081/.well-known/jwks.json\n"
    );
}

#[test]
fn a_jwks_url_that_is_not_http_is_refused() {
    let out = user_search().env("JWKS_URL", "ftp://keys").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "user-search: invalid configuration: JWKS_URL (--jwks-url) = \"ftp://keys\": expected an http:// or https:// URL\n"
    );
}

/// A read replica of the embedded SQLite file cannot be: one line, before anything is served.
#[test]
fn a_read_replica_without_a_postgres_primary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = user_search()
        .env("DATA_DIR", dir.path())
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .env("JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json")
        .env("DATABASE_READ_URL", "postgres://replica/chat")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "user-search: invalid configuration: DATABASE_READ_URL: a read replica is a Postgres streaming replica \
         of a Postgres DATABASE_URL\n"
    );
}

/// A port another process holds stops the start-up with one line naming `LISTEN_ADDR`, before
/// DATA_DIR and its database are created (they used to be, and were left behind).
#[test]
fn a_busy_port_is_one_line_and_creates_nothing() {
    let mut user_search = user_search();
    user_search.env("JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json");
    testkit::startup::assert_busy_port_refused("user-search", user_search);
}

#[test]
fn help_lists_the_variables() {
    let out = user_search().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "LISTEN_ADDR",
        "DATABASE_URL",
        "DATABASE_READ_URL",
        "DATABASE_READ_MAX_LAG_SECONDS",
        "JWKS_URL",
        "JWT_AUDIENCE",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}

#[test]
fn a_lookup_cache_size_that_is_not_a_count_names_its_variable() {
    for bad in ["-1", "lots", "10000001"] {
        let out = user_search()
            .env("JWKS_URL", "http://127.0.0.1:9/.well-known/jwks.json")
            .env("LOOKUP_CACHE_ENTRIES", bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}: {out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.starts_with(&format!(
                "user-search: invalid configuration: LOOKUP_CACHE_ENTRIES (--lookup-cache-entries) = \"{bad}\": "
            )) && stderr.lines().count() == 1,
            "{bad}: {stderr}"
        );
    }
}
