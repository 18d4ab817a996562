//! A PostgreSQL server of the test's own that accepts TCP connections over TLS only, its
//! certificate signed by a CA made for the test: made as [`crate::postgres_pair`]'s primary is
//! (`initdb`, `pg_ctl`, as the `postgres` user), and gone when dropped. `pg_hba.conf` has
//! `hostssl` lines alone, so a client that did not negotiate TLS is refused rather than served
//! in the clear.

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use crate::{
    postgres_pair::{OS_USER, as_postgres, psql, run, server_bin},
    test_ca::TestCa,
};

pub struct PostgresTls {
    pub port: u16,
    /// The CA that signed the server's certificate.
    pub ca_file: PathBuf,
    /// A CA that signed nothing here.
    pub other_ca_file: PathBuf,
    bin: PathBuf,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

impl PostgresTls {
    /// A server with one database, `app`, ready for connections.
    pub fn start() -> Self {
        let bin = server_bin();
        let dir = tempfile::tempdir().expect("a temporary directory for the database");
        let ca = TestCa::new("chat-suite test Postgres CA");
        let server = ca.issue("test postgres").write(dir.path(), "server");
        let ca_file = ca.write(dir.path(), "ca");
        let other_ca_file = TestCa::new("another CA").write(dir.path(), "other-ca");
        // The server reads its key as its own user; it refuses one that others may read.
        run(Command::new("chown").arg("-R").arg(OS_USER).arg(dir.path()));
        let data = dir.path().join("data");
        as_postgres(&bin, "initdb", |c| c.args(["-U", "postgres", "--auth=trust", "--no-sync", "-D"]).arg(&data));
        let settings = format!(
            "listen_addresses = '127.0.0.1'\nfsync = off\nssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
            server.cert.display(),
            server.key.display()
        );
        append(&data.join("postgresql.conf"), &settings);
        std::fs::write(data.join("pg_hba.conf"), "local all all trust\nhostssl all all 127.0.0.1/32 trust\n")
            .expect("pg_hba.conf is writable");
        let port = crate::free_port();
        let options = format!("-p {port} -k {}", dir.path().display());
        let log = dir.path().join("server.log");
        as_postgres(&bin, "pg_ctl", |c| {
            c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-o", &options, "-w", "start"])
        });
        let server = Self { port, ca_file, other_ca_file, bin, data, _dir: dir };
        psql(port, "postgres", "CREATE DATABASE app");
        server
    }

    /// A URL for database `app` that checks the server's certificate and name against `ca`.
    pub fn url_trusting(&self, ca: &Path) -> String {
        format!("postgres://postgres@localhost:{}/app?sslmode=verify-full&sslrootcert={}", self.port, ca.display())
    }
}

impl Drop for PostgresTls {
    fn drop(&mut self) {
        as_postgres(&self.bin, "pg_ctl", |c| c.arg("-D").arg(&self.data).args(["-m", "immediate", "-w", "stop"]));
    }
}

fn append(file: &Path, text: &str) {
    let mut config = std::fs::read_to_string(file).expect("initdb wrote postgresql.conf");
    config.push_str(text);
    std::fs::write(file, config).expect("postgresql.conf is writable");
}
