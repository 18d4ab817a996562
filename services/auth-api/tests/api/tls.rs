//! TLS to Redis (`rediss://`, a CA of the test's own, client certificates) and to Postgres
//! (`sslmode=verify-full`): replicas that share a TLS Redis share their limits, and a CA that
//! did not sign the server's certificate stops the binary with one line naming the variable.

use std::{process::Command, sync::Arc};

use serde_json::json;
use testkit::{postgres_tls::PostgresTls, redis_server::RedisServer, redis_tls::RedisTlsFiles};

use crate::helpers::{Backend, TestDatabase, spawn_on, unique_name};

fn registration() -> serde_json::Value {
    let username = unique_name("t");
    json!({"username": username, "password": "correct horse battery", "email": format!("{username}@example.com")})
}

/// Two replicas on a Redis that speaks TLS alone and requires a client certificate: the
/// per-address allowance (2 a minute) is one, spent across both.
#[tokio::test]
async fn replicas_share_their_limits_through_a_tls_redis_with_client_certificates() {
    let redis = tokio::task::spawn_blocking(|| RedisServer::start_tls(RedisTlsFiles::new(true))).await.unwrap();
    let database = Arc::new(TestDatabase::create(Backend::Postgres).await);
    let key = auth_api::tokens::SigningKey::generate().unwrap().to_pem().to_owned();
    let mut extra = redis.service_args();
    extra.extend(["--rate-limit-per-ip-per-minute".to_owned(), "2".to_owned()]);
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let a = spawn_on(database.clone(), key.clone(), &extra).await;
    let b = spawn_on(database, key, &extra).await;
    assert_eq!(a.post("/register", registration()).await.status, 201);
    assert_eq!(b.post("/register", registration()).await.status, 201);
    for app in [&a, &b] {
        let limited = app.post("/register", registration()).await;
        assert_eq!(limited.status, 429, "{}", limited.body);
    }
    assert_eq!(a.get("/readyz", None).await.status, 200);
}

fn auth_api(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_auth-api"));
    for var in ["DATABASE_URL", "REDIS_URL", "REDIS_CA_FILE", "REDIS_CLIENT_CERT_FILE", "REDIS_CLIENT_KEY_FILE"] {
        cmd.env_remove(var);
    }
    // The start-up log before the error is not what these tests read.
    cmd.env("DATA_DIR", dir).env("LISTEN_ADDR", "127.0.0.1:0").env("RUST_LOG", "off");
    cmd
}

/// What the binary printed as it stopped: one line, and its exit status (2 for a setting
/// refused before anything is connected, 1 for a connection refused at start-up).
fn one_line(cmd: &mut Command) -> (Option<i32>, String) {
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    (out.status.code(), stderr.trim_end().to_owned())
}

#[tokio::test]
async fn a_redis_ca_that_did_not_sign_the_server_is_one_line_naming_it() {
    let redis = tokio::task::spawn_blocking(|| RedisServer::start_tls(RedisTlsFiles::new(false))).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tls = redis.tls().unwrap();
    let (status, line) =
        one_line(auth_api(dir.path()).env("REDIS_URL", redis.url()).env("REDIS_CA_FILE", &tls.other_ca_file));
    assert_eq!(status, Some(1), "{line}");
    assert!(
        line.starts_with("auth-api: error: REDIS_CA_FILE: the Redis server's certificate is not signed by this CA ("),
        "{line}"
    );

    // Without a CA file the system's roots are asked, and the URL is what is named.
    let (status, line) = one_line(auth_api(dir.path()).env("REDIS_URL", redis.url()));
    assert_eq!(status, Some(1), "{line}");
    assert!(
        line.starts_with(
            "auth-api: error: REDIS_URL: the Redis server's certificate is not signed by a CA the system trusts; \
             give its CA in REDIS_CA_FILE ("
        ),
        "{line}"
    );
}

#[tokio::test]
async fn a_redis_that_requires_a_client_certificate_and_gets_none_is_one_line() {
    let redis = tokio::task::spawn_blocking(|| RedisServer::start_tls(RedisTlsFiles::new(true))).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let tls = redis.tls().unwrap();
    let (status, line) =
        one_line(auth_api(dir.path()).env("REDIS_URL", redis.url()).env("REDIS_CA_FILE", &tls.ca_file));
    assert_eq!(status, Some(1), "{line}");
    assert!(
        line.starts_with(
            "auth-api: error: REDIS_CLIENT_CERT_FILE: the Redis server refused the connection without one ("
        ),
        "{line}"
    );
}

#[test]
fn tls_files_that_cannot_serve_are_refused_before_any_connection() {
    let dir = tempfile::tempdir().unwrap();
    let files = RedisTlsFiles::new(true);
    // The files set, REDIS_URL, and what the one line says.
    type Case<'a> = (&'a [(&'a str, &'a std::path::Path)], Option<&'a str>, &'a str);
    let cases: [Case; 6] = [
        (
            &[("REDIS_CA_FILE", "/nonexistent/ca.pem".as_ref())],
            Some("rediss://127.0.0.1:1"),
            r#"REDIS_CA_FILE (--redis-ca-file) = "/nonexistent/ca.pem": cannot read the file: No such file or directory (os error 2)"#,
        ),
        (
            &[("REDIS_CA_FILE", &files.client_key)],
            Some("rediss://127.0.0.1:1"),
            "holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
        ),
        (
            &[("REDIS_CA_FILE", &files.ca_file)],
            Some("redis://127.0.0.1:1"),
            "REDIS_CA_FILE: set, but REDIS_URL is not a TLS one (rediss:// or rediss+cluster://)",
        ),
        (
            &[("REDIS_CLIENT_CERT_FILE", &files.client_cert), ("REDIS_CLIENT_KEY_FILE", &files.server_key)],
            Some("rediss://127.0.0.1:1"),
            "REDIS_CLIENT_KEY_FILE: not usable with REDIS_CLIENT_CERT_FILE",
        ),
        (
            &[("REDIS_CLIENT_CERT_FILE", &files.client_cert)],
            Some("rediss://127.0.0.1:1"),
            "REDIS_CLIENT_KEY_FILE: required with REDIS_CLIENT_CERT_FILE",
        ),
        (&[("REDIS_CA_FILE", &files.ca_file)], None, "REDIS_CA_FILE: set, but REDIS_URL is not"),
    ];
    for (settings, url, expected) in cases {
        let mut cmd = auth_api(dir.path());
        if let Some(url) = url {
            cmd.env("REDIS_URL", url);
        }
        for (variable, path) in settings {
            cmd.env(variable, path);
        }
        let (status, line) = one_line(&mut cmd);
        assert_eq!(status, Some(2), "{line}");
        assert!(line.starts_with("auth-api: invalid configuration: "), "{line}");
        assert!(line.contains(expected), "{line}\nexpected: {expected}");
    }
}

/// auth-api on a Postgres that takes TLS connections alone, checking its certificate and name
/// (`sslmode=verify-full`) against the CA in `sslrootcert`.
#[tokio::test]
async fn postgres_with_verify_full_serves() {
    let postgres = tokio::task::spawn_blocking(PostgresTls::start).await.unwrap();
    let database = Arc::new(TestDatabase::on_server(postgres.url_trusting(&postgres.ca_file)).await);
    let key = auth_api::tokens::SigningKey::generate().unwrap().to_pem().to_owned();
    let app = spawn_on(database, key, &[]).await;
    assert_eq!(app.post("/register", registration()).await.status, 201);
    assert_eq!(app.get("/readyz", None).await.status, 200);
    // Without TLS the server refuses (pg_hba.conf has `hostssl` lines alone).
    let plain = format!("postgres://postgres@127.0.0.1:{}/app?sslmode=disable", postgres.port);
    assert!(sea_orm::Database::connect(plain).await.is_err());
}

#[tokio::test]
async fn a_postgres_ca_that_did_not_sign_the_server_is_one_line() {
    let postgres = tokio::task::spawn_blocking(PostgresTls::start).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = auth_api::tokens::SigningKey::generate().unwrap().to_pem().to_owned();
    let (status, line) = one_line(
        auth_api(dir.path())
            .env("DATABASE_URL", postgres.url_trusting(&postgres.other_ca_file))
            .env("JWT_SIGNING_KEY", key),
    );
    assert_ne!(status, Some(0), "{line}");
    assert!(line.starts_with("auth-api: "), "{line}");
    assert!(line.contains("DATABASE_URL"), "{line}");
    assert!(line.contains("UnknownIssuer"), "{line}");
}
