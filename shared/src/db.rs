//! The database: Postgres for deployments, SQLite for the embedded default, both through
//! sea-orm and the same migrations.

use std::{path::Path, time::Duration};

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::{
    config::{CommonConfig, DatabaseUrl},
    data_dir,
};

/// Opens the pool. For SQLite the directory of the file is created first, and the connection
/// gets WAL and a busy timeout so concurrent requests wait for the writer instead of failing.
/// The embedded default's file is made owner-only before SQLite opens it: SQLite gives its
/// `-wal` and `-shm` files the database file's permissions.
pub async fn connect(config: &CommonConfig) -> Result<DatabaseConnection, DbErr> {
    let url = config.database();
    if url.is_sqlite() {
        let dir = &config.data_dir;
        data_dir::create_private_dir(dir)
            .map_err(|e| DbErr::Custom(format!("cannot create DATA_DIR {}: {e}", dir.display())))?;
    }
    if config.database_url.is_none() {
        let file = config.embedded_database_file();
        make_private(&file).map_err(|e| DbErr::Custom(format!("cannot make {} private: {e}", file.display())))?;
    }
    connect_url(&url, config.database_max_connections).await
}

/// The database file, created owner-only if missing; its `-wal` and `-shm` files, if an older
/// version left them open to others, tightened as well.
fn make_private(file: &Path) -> std::io::Result<()> {
    data_dir::create_private_file(file)?;
    for suffix in ["-wal", "-shm"] {
        let mut sidecar = file.as_os_str().to_owned();
        sidecar.push(suffix);
        data_dir::restrict(Path::new(&sidecar))?;
    }
    Ok(())
}

pub async fn connect_url(url: &DatabaseUrl, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    Database::connect(options(url, max_connections)).await
}

/// A pool that connects on its first use, so a server that is down now fails the statements
/// sent to it, not the start-up.
pub async fn connect_lazy(url: &DatabaseUrl, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = options(url, max_connections);
    options.min_connections(0).connect_lazy(true);
    Database::connect(options).await
}

fn options(url: &DatabaseUrl, max_connections: u32) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        // A ping on every checkout is a round trip before every statement; only a connection
        // idle long enough for a proxy or the server to have dropped it is worth checking.
        .test_before_acquire_if_idle_for(Duration::from_secs(30))
        .sqlx_logging(false);
    if url.is_sqlite() {
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    options
}

/// Whether `err` means the database could not be reached, rather than that it refused the
/// statement: a retryable 503, never a 500. Pooled connections are not pinged before use (see
/// [`connect_url`]), so a database that went away shows first as an I/O error or an
/// administrator's termination on a connection the pool still held.
pub fn is_unreachable(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error};
    let runtime = match err {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => return true,
        DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx) = runtime else { return false };
    match sqlx.as_ref() {
        Error::Io(_) | Error::PoolTimedOut | Error::PoolClosed | Error::WorkerCrashed | Error::Tls(_) => true,
        // Class 08 (connection exception) and 57P (the server shutting down or ending the session).
        Error::Database(db) => db.code().is_some_and(|code| code.starts_with("08") || code.starts_with("57P")),
        _ => false,
    }
}

/// Whether a transaction failed only for the moment: Postgres chose it to break a deadlock
/// (40P01), or could not serialise it (40001). Running it again is the cure.
pub fn is_transient(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error};
    let (DbErr::Exec(RuntimeErr::SqlxError(sqlx)) | DbErr::Query(RuntimeErr::SqlxError(sqlx))) = err else {
        return false;
    };
    matches!(sqlx.as_ref(), Error::Database(db) if db.code().is_some_and(|code| code == "40P01" || code == "40001"))
}

/// Applies every pending migration. Run by the `migrate` subcommand (a Kubernetes Job) and by
/// the embedded default at start-up; replicas of a deployment never migrate on their own.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    Migrator::up(db, None).await
}

/// The `migrate` subcommand of every binary: connect, apply what is pending, say so.
pub async fn migrate_command(config: &CommonConfig) -> anyhow::Result<()> {
    let db = connect(config).await.map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot connect: {e}"))?;
    migrate(&db).await?;
    println!("migrations applied");
    Ok(())
}

/// The database a service runs on: the embedded default migrates itself; a shared database is
/// migrated by the `migrate` subcommand, and a service refuses to start on an older schema
/// rather than fail request by request.
pub async fn prepare(config: &CommonConfig) -> anyhow::Result<DatabaseConnection> {
    let db = connect(config).await.map_err(|e| anyhow::anyhow!("DATABASE_URL: cannot connect: {e}"))?;
    if config.database().is_sqlite() {
        migrate(&db).await?;
        return Ok(db);
    }
    let pending = Migrator::get_pending_migrations(&db).await?;
    if !pending.is_empty() {
        anyhow::bail!(
            "the database schema is behind by {} migration(s): run the `migrate` subcommand first",
            pending.len()
        );
    }
    Ok(db)
}

#[cfg(test)]
#[cfg(unix)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonConfig,
    }

    /// The embedded default's configuration, with its DATA_DIR in `dir`.
    fn embedded(dir: &Path) -> CommonConfig {
        let mut config = Cli::try_parse_from(["test", "--data-dir", &dir.display().to_string()]).unwrap().common;
        config.database_url = None;
        config
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// The database, its `-wal` and its `-shm`, while the pool is open (and so they exist).
    async fn modes_in_use(dir: &Path) -> [u32; 4] {
        let db = connect(&embedded(dir)).await.unwrap();
        migrate(&db).await.unwrap();
        let modes = ["chat-suite.db", "chat-suite.db-wal", "chat-suite.db-shm"].map(|name| mode(&dir.join(name)));
        db.close().await.unwrap();
        [mode(dir), modes[0], modes[1], modes[2]]
    }

    #[tokio::test]
    async fn the_embedded_database_is_the_owners_alone() {
        let root = tempfile::tempdir().unwrap();
        assert_eq!(modes_in_use(&root.path().join("data")).await, [0o700, 0o600, 0o600, 0o600]);
    }

    #[tokio::test]
    async fn an_embedded_database_open_to_others_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        for name in ["chat-suite.db", "chat-suite.db-wal"] {
            std::fs::write(dir.join(name), b"").unwrap();
            std::fs::set_permissions(dir.join(name), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        assert_eq!(modes_in_use(&dir).await, [0o700, 0o600, 0o600, 0o600]);
    }
}
