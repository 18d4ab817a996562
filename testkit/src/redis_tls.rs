//! TLS for a Redis server or cluster of the test's own (`redis-server --tls-port`): a CA made
//! for the test, a certificate for the servers (which a cluster's nodes also show each other),
//! one for the service as a client, and a second CA that signed none of them, for the test of
//! a service that trusts the wrong one.

use std::path::PathBuf;

use crate::test_ca::TestCa;

pub struct RedisTlsFiles {
    pub ca_file: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    pub client_cert: PathBuf,
    pub client_key: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca_file: PathBuf,
    /// Whether the servers refuse clients without a certificate (`--tls-auth-clients yes`).
    pub clients_need_certificates: bool,
    _dir: tempfile::TempDir,
}

impl RedisTlsFiles {
    pub fn new(clients_need_certificates: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("chat-suite test Redis CA");
        let server = ca.issue("test redis").write(dir.path(), "server");
        let client = ca.issue("chat-suite service").write(dir.path(), "client");
        Self {
            ca_file: ca.write(dir.path(), "ca"),
            server_cert: server.cert,
            server_key: server.key,
            client_cert: client.cert,
            client_key: client.key,
            other_ca_file: TestCa::new("another CA").write(dir.path(), "other-ca"),
            clients_need_certificates,
            _dir: dir,
        }
    }

    /// `redis-server`'s TLS options (beside `--port 0 --tls-port P`).
    pub(crate) fn server_args(&self) -> Vec<String> {
        let auth = if self.clients_need_certificates { "yes" } else { "no" };
        vec![
            "--tls-cert-file".into(),
            path(&self.server_cert),
            "--tls-key-file".into(),
            path(&self.server_key),
            "--tls-ca-cert-file".into(),
            path(&self.ca_file),
            "--tls-auth-clients".into(),
            auth.into(),
        ]
    }

    /// `redis-cli`'s, as a client with a certificate.
    pub(crate) fn cli_args(&self) -> Vec<String> {
        let mut args = vec!["--tls".into(), "--cacert".into(), path(&self.ca_file)];
        args.extend(["--cert".into(), path(&self.client_cert), "--key".into(), path(&self.client_key)]);
        args
    }

    /// A service's flags beside `--redis-url`: the CA, and the client certificate when the
    /// servers require one.
    pub fn service_args(&self) -> Vec<String> {
        let mut args = vec![format!("--redis-ca-file={}", path(&self.ca_file))];
        if self.clients_need_certificates {
            args.push(format!("--redis-client-cert-file={}", path(&self.client_cert)));
            args.push(format!("--redis-client-key-file={}", path(&self.client_key)));
        }
        args
    }
}

fn path(path: &std::path::Path) -> String {
    path.display().to_string()
}
