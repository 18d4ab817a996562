//! A PostgreSQL primary and its streaming replica, of the test's own: made with the installed
//! server's `initdb` and `pg_basebackup -R` in a temporary directory, on free loopback ports,
//! and gone when dropped. The machine's own server is not used: it allows no replication
//! connections, and a test must be free to stop a replica or hold its replay back (lag) without
//! disturbing other tests.

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

/// PostgreSQL refuses to run as root; its programs run as this user.
pub(crate) const OS_USER: &str = "postgres";
const PATIENCE: Duration = Duration::from_secs(30);

pub struct PostgresPair {
    pub primary: Instance,
    pub replica: Instance,
    bin: PathBuf,
    _dir: tempfile::TempDir,
}

pub struct Instance {
    pub port: u16,
    data: PathBuf,
    running: bool,
}

impl Instance {
    /// A URL for `database` on this instance.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

impl PostgresPair {
    /// A primary with one database, `app`, and a replica streaming from it; returns once the
    /// replica has replayed everything the primary had.
    pub fn start() -> Self {
        let bin = server_bin();
        let dir = tempfile::tempdir().expect("a temporary directory for the databases");
        run(Command::new("chown").arg(OS_USER).arg(dir.path()));
        let primary = Instance { port: crate::free_port(), data: dir.path().join("primary"), running: false };
        let replica = Instance { port: crate::free_port(), data: dir.path().join("replica"), running: false };
        let mut pair = Self { primary, replica, bin, _dir: dir };

        // Trust on loopback, replication included (initdb's own pg_hba.conf); no fsync: a
        // test's data need not survive a crash of the machine.
        pair.as_postgres("initdb", |c| {
            c.args(["-U", "postgres", "--auth=trust", "--no-sync", "-D"]).arg(&pair.primary.data)
        });
        let settings = "listen_addresses = '127.0.0.1'\nfsync = off\nsynchronous_commit = off\nmax_wal_senders = 4\n";
        let config = pair.primary.data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&config).expect("initdb wrote postgresql.conf");
        text.push_str(settings);
        std::fs::write(&config, text).expect("postgresql.conf is writable");
        pair.start_instance(Role::Primary);
        pair.primary_sql("postgres", "CREATE DATABASE app");
        // A fast checkpoint: the default spreads it over minutes.
        let port = pair.primary.port.to_string();
        let from = ["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-R", "-X", "stream", "-c", "fast", "-D"];
        pair.as_postgres("pg_basebackup", |c| c.args(from).arg(&pair.replica.data));
        pair.start_instance(Role::Replica);
        pair.wait_caught_up();
        pair
    }

    /// Runs `sql` on the primary, in `database`; what psql printed (unaligned, tuples only).
    pub fn primary_sql(&self, database: &str, sql: &str) -> String {
        psql(self.primary.port, database, sql)
    }

    /// Runs `sql` on the replica, in `database`.
    pub fn replica_sql(&self, database: &str, sql: &str) -> String {
        psql(self.replica.port, database, sql)
    }

    /// Waits until the replica has replayed everything the primary has written so far.
    ///
    /// The target is the WAL's insert position, not its write position: with
    /// `synchronous_commit = off` a commit returns before its record leaves the WAL buffers,
    /// and the write position can still be behind a transaction the caller saw commit.
    pub fn wait_caught_up(&self) {
        let target = self.primary_sql("postgres", "SELECT pg_current_wal_insert_lsn()");
        let caught_up = format!("SELECT pg_last_wal_replay_lsn() >= '{}'::pg_lsn", target.trim());
        let deadline = Instant::now() + PATIENCE;
        while self.replica_sql("postgres", &caught_up).trim() != "t" {
            assert!(Instant::now() < deadline, "the replica did not catch up within {PATIENCE:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Holds the replica's replay back: it stays connected and readable, and falls behind by
    /// whatever the primary writes until [`Self::resume_replay`].
    pub fn pause_replay(&self) {
        self.replica_sql("postgres", "SELECT pg_wal_replay_pause()");
    }

    pub fn resume_replay(&self) {
        self.replica_sql("postgres", "SELECT pg_wal_replay_resume()");
    }

    /// Stops the replica at once (its clients see their connections drop).
    pub fn stop_replica(&mut self) {
        self.stop(Role::Replica);
    }

    /// Starts the replica again; it streams from where it stopped.
    pub fn start_replica(&mut self) {
        self.start_instance(Role::Replica);
    }

    fn instance(&mut self, role: Role) -> &mut Instance {
        match role {
            Role::Primary => &mut self.primary,
            Role::Replica => &mut self.replica,
        }
    }

    fn start_instance(&mut self, role: Role) {
        let (data, port) = {
            let instance = self.instance(role);
            (instance.data.clone(), instance.port)
        };
        let log = data.with_extension("log");
        let options = format!("-p {port} -k {}", data.parent().unwrap_or(Path::new("/tmp")).display());
        self.as_postgres("pg_ctl", |c| {
            c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-o", &options, "-w", "start"])
        });
        self.instance(role).running = true;
    }

    fn stop(&mut self, role: Role) {
        let data = self.instance(role).data.clone();
        if std::mem::take(&mut self.instance(role).running) {
            self.as_postgres("pg_ctl", |c| c.arg("-D").arg(&data).args(["-m", "immediate", "-w", "stop"]));
        }
    }

    fn as_postgres(&self, program: &str, args: impl FnOnce(&mut Command) -> &mut Command) {
        as_postgres(&self.bin, program, args);
    }
}

/// Runs one of the server's programs (in `bin`) as [`OS_USER`].
pub(crate) fn as_postgres(bin: &Path, program: &str, args: impl FnOnce(&mut Command) -> &mut Command) {
    let mut command = Command::new("runuser");
    command.args(["-u", OS_USER, "--"]).arg(bin.join(program));
    run(args(&mut command));
}

impl Drop for PostgresPair {
    fn drop(&mut self) {
        self.stop(Role::Replica);
        self.stop(Role::Primary);
    }
}

#[derive(Clone, Copy)]
enum Role {
    Primary,
    Replica,
}

/// The newest installed server's programs (`initdb`, `pg_ctl`, `pg_basebackup`).
pub(crate) fn server_bin() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("the PostgreSQL server must be installed (see ../shared/SERVICES.md)")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let version = path.file_name()?.to_str()?.parse().ok()?;
            Some((version, path.join("bin")))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).expect("a PostgreSQL server under /usr/lib/postgresql")
}

pub(crate) fn run(command: &mut Command) {
    let output = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

pub(crate) fn psql(port: u16, database: &str, sql: &str) -> String {
    let output = Command::new("psql")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres", "-d", database, "-Atc", sql])
        .stdin(Stdio::null())
        .output()
        .expect("psql must be installed");
    assert!(output.status.success(), "psql -c {sql}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness does what it says: the replica serves what the primary wrote, falls behind
    /// while its replay is held, refuses writes, and streams again after a stop.
    #[test]
    fn a_replica_follows_its_primary_and_can_be_held_back_or_stopped() {
        let mut pair = PostgresPair::start();
        assert_eq!(pair.replica_sql("postgres", "SELECT pg_is_in_recovery()").trim(), "t");
        pair.primary_sql("app", "CREATE TABLE notes (body text); INSERT INTO notes VALUES ('one')");
        pair.wait_caught_up();
        assert_eq!(pair.replica_sql("app", "SELECT count(*) FROM notes").trim(), "1");

        pair.pause_replay();
        pair.primary_sql("app", "INSERT INTO notes VALUES ('two')");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(pair.replica_sql("app", "SELECT count(*) FROM notes").trim(), "1", "held back");
        pair.resume_replay();
        pair.wait_caught_up();
        assert_eq!(pair.replica_sql("app", "SELECT count(*) FROM notes").trim(), "2");

        pair.stop_replica();
        pair.primary_sql("app", "INSERT INTO notes VALUES ('three')");
        pair.start_replica();
        pair.wait_caught_up();
        assert_eq!(pair.replica_sql("app", "SELECT count(*) FROM notes").trim(), "3");
        assert!(pair.replica.url("app").ends_with("/app"));
    }
}
