//! What the gateway's handlers and connections share.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use shared::{origins::AllowedOrigins, outbox::Wakeup, read_replica::Reads, tokens::TokenVerifier};

use crate::{
    config::ChatSettings,
    deleted_accounts::DeletedAccounts,
    metrics::GatewayMetrics,
    node::{ConnectionSlots, Node},
    store::writer::Writer,
};

pub(crate) struct ChatState {
    /// The primary: writes, and every read a connection relies on (a lagging read there
    /// could miss a message it was just told of).
    pub(crate) db: DatabaseConnection,
    /// Where the REST routes' reads go: chat lists and history pages may lag by a moment.
    pub(crate) reads: Reads,
    pub(crate) node: Arc<Node>,
    /// The connections each user holds here, bounded.
    pub(crate) slots: Arc<ConnectionSlots>,
    pub(crate) verifier: Arc<TokenVerifier>,
    pub(crate) settings: ChatSettings,
    /// Browser pages that may open a socket besides those of the host itself.
    pub(crate) origins: AllowedOrigins,
    pub(crate) metrics: Arc<GatewayMetrics>,
    /// Wakes this process's outbox relay after an offline push (chat-suite runs one).
    pub(crate) wakeup: Option<Wakeup>,
    /// Stores messages, many to a commit under load, and runs what each commit sets off.
    pub(crate) writer: Writer,
    /// Accounts deleted lately: their tokens open nothing.
    pub(crate) deleted: DeletedAccounts,
}
