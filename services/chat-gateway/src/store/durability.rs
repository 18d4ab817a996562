//! `MESSAGE_DURABILITY`: what "committed" means for a message, before anyone hears of it.

/// How the transactions that store messages commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// Flushed to disk: a message anyone heard of survives any crash.
    #[default]
    Sync,
    /// Committed, and flushed by Postgres's WAL writer a moment later
    /// (`synchronous_commit = off` for these transactions alone): the commit waits for no
    /// disk, and a crash of Postgres may lose what it committed in its last moments (up to
    /// three times `wal_writer_delay`).
    Async,
}
