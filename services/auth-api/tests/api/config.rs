//! Misconfiguration ends the binary with one line naming the variable.

use std::process::Command;

fn auth_api() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auth-api"));
    for var in ["DATABASE_URL", "REDIS_URL", "JWT_SIGNING_KEY", "JWT_SIGNING_KEY_FILE", "LISTEN_ADDR"] {
        cmd.env_remove(var);
    }
    cmd
}

fn one_line_error(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr.trim_end().to_owned()
}

#[test]
fn a_bad_listen_address_is_one_line() {
    let line = one_line_error(auth_api().env("LISTEN_ADDR", "nowhere"));
    assert_eq!(
        line,
        r#"auth-api: invalid configuration: LISTEN_ADDR (--listen-addr) = "nowhere": invalid socket address syntax"#
    );
}

#[test]
fn a_weak_argon2_cost_is_refused() {
    let line = one_line_error(auth_api().env("ARGON2_MEMORY_KIB", "1024"));
    assert!(
        line.starts_with(r#"auth-api: invalid configuration: ARGON2_MEMORY_KIB (--argon2-memory-kib) = "1024": "#),
        "{line}"
    );
}

#[test]
fn postgres_without_a_signing_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let line = one_line_error(
        auth_api()
            .env("DATABASE_URL", crate::helpers::postgres_admin_url())
            .env("DATA_DIR", dir.path())
            .env("LISTEN_ADDR", "127.0.0.1:0"),
    );
    assert_eq!(
        line,
        "auth-api: invalid configuration: JWT_SIGNING_KEY: required with a shared (Postgres) database, so that every replica signs with the same key"
    );
}

#[test]
fn an_unreadable_signing_key_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let line = one_line_error(
        auth_api().env("JWT_SIGNING_KEY", "not a key").env("DATA_DIR", dir.path()).env("LISTEN_ADDR", "127.0.0.1:0"),
    );
    assert!(
        line.starts_with("auth-api: invalid configuration: JWT_SIGNING_KEY: the signing key is unusable"),
        "{line}"
    );
}

/// A port another process holds stops the start-up with one line naming `LISTEN_ADDR`, before
/// DATA_DIR and its database are created (they used to be, and were left behind).
#[test]
fn a_busy_port_is_one_line_and_creates_nothing() {
    testkit::startup::assert_busy_port_refused("auth-api", auth_api());
}

#[test]
fn help_lists_the_variables() {
    let out = auth_api().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for var in [
        "LISTEN_ADDR",
        "DATABASE_URL",
        "REDIS_URL",
        "JWT_SIGNING_KEY",
        "RATE_LIMIT_PER_IP_PER_MINUTE",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ] {
        assert!(help.contains(var), "{var} missing from --help");
    }
}

#[test]
fn a_kafka_ca_file_that_is_not_there_is_one_line() {
    let line = one_line_error(
        auth_api()
            .env("KAFKA_BROKERS", "127.0.0.1:9")
            .env("KAFKA_PROPERTIES", "security.protocol=SSL,ssl.ca.location=/nonexistent/ca.pem,sasl.password=hunter2"),
    );
    assert_eq!(
        line,
        r#"auth-api: invalid configuration: KAFKA_PROPERTIES (--kafka-properties) = "security.protocol=SSL,ssl.ca.location=/nonexistent/ca.pem,sasl.password=***": ssl.ca.location: cannot read /nonexistent/ca.pem: No such file or directory (os error 2)"#
    );
}

/// A setting librdkafka refuses when it makes its clients: one line, the variable named.
#[test]
fn a_kafka_setting_librdkafka_refuses_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let line = one_line_error(
        auth_api()
            .env("DATA_DIR", dir.path())
            .env("LISTEN_ADDR", "127.0.0.1:0")
            .env("KAFKA_BROKERS", "127.0.0.1:9")
            .env("KAFKA_PROPERTIES", "security.protocol=carrier-pigeon")
            // The start-up log before the error is not what this test reads.
            .env("RUST_LOG", "off"),
    );
    assert!(line.starts_with("auth-api: invalid configuration: KAFKA_PROPERTIES: "), "{line}");
    assert!(line.contains("security.protocol"), "{line}");
}

/// What managed Kafka services ask for (TLS, SASL with SCRAM or PLAIN) is built into
/// librdkafka here: such a relay starts (the broker at this address is not there; its events
/// wait) where a build without OpenSSL refused the settings.
#[tokio::test]
async fn kafka_over_tls_with_scram_or_plain_is_accepted() {
    for mechanism in ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] {
        let properties = format!(
            "--kafka-properties=security.protocol=SASL_SSL,sasl.mechanism={mechanism},sasl.username=relay,sasl.password=hunter2"
        );
        let app = crate::helpers::spawn_app_with(
            crate::helpers::Backend::Sqlite,
            &["--kafka-brokers", "127.0.0.1:9", &properties],
        )
        .await;
        assert_eq!(app.get("/readyz", None).await.status, 200, "{mechanism}");
    }
}
