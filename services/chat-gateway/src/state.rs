//! What the gateway's handlers and connections share.

use std::sync::Arc;

use sea_orm::DatabaseConnection;
use shared::{origins::AllowedOrigins, outbox::Wakeup, tokens::TokenVerifier};

use crate::{
    config::ChatSettings,
    metrics::GatewayMetrics,
    node::{ConnectionSlots, Node},
    store::writer::Writer,
};

pub(crate) struct ChatState {
    pub(crate) db: DatabaseConnection,
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
    /// Stores messages, many to a commit under load.
    pub(crate) writer: Writer,
}
