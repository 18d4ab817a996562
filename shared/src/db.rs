//! The database: Postgres for deployments, SQLite for the embedded default, both through
//! sea-orm and the same migrations.

use std::time::Duration;

use migrations::{Migrator, MigratorTrait};
use sea_orm::{ConnectOptions, Database, DatabaseConnection, DbErr};

use crate::config::{CommonConfig, DatabaseUrl};

/// Opens the pool. For SQLite the directory of the file is created first, and the connection
/// gets WAL and a busy timeout so concurrent requests wait for the writer instead of failing.
pub async fn connect(config: &CommonConfig) -> Result<DatabaseConnection, DbErr> {
    let url = config.database();
    if url.is_sqlite() {
        std::fs::create_dir_all(&config.data_dir)
            .map_err(|e| DbErr::Custom(format!("cannot create DATA_DIR {}: {e}", config.data_dir.display())))?;
    }
    connect_url(&url, config.database_max_connections).await
}

pub async fn connect_url(url: &DatabaseUrl, max_connections: u32) -> Result<DatabaseConnection, DbErr> {
    let mut options = ConnectOptions::new(url.expose().to_owned());
    options
        .max_connections(max_connections)
        .min_connections(1)
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(Duration::from_secs(5))
        .sqlx_logging(false);
    if url.is_sqlite() {
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    }
    Database::connect(options).await
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
