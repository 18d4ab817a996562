//! What carries events between replicas, as socketioxide's adapters do: the node delivers to
//! its own connections itself, and hands the broker what the other replicas must hear.

use futures_util::future::BoxFuture;
use shared::readiness::Dependency;
use uuid::Uuid;

use super::envelope::Outgoing;

/// The seam between one replica and many: [`InProcess`] when this process is the only
/// replica, [`super::RedisBroker`] when Redis joins them.
pub(crate) trait Broker: Send + Sync + 'static {
    /// A connection of `user` arrived here: after this resolves true, whatever another
    /// replica publishes to `user` reaches this one. False when that could not be confirmed
    /// (the connection then resynchronises when the broker is back).
    fn arrived(&self, user: Uuid) -> BoxFuture<'_, bool>;

    /// A connection of `user` left here.
    fn left(&self, user: Uuid);

    /// Hands `event` to the other replicas holding connections of `users`; never waits.
    fn publish(&self, users: &[Uuid], event: &Outgoing);

    /// What the replica's readiness depends on.
    fn dependency(&self) -> Option<Dependency>;
}

/// One replica: there is nobody else to tell.
pub(crate) struct InProcess;

impl Broker for InProcess {
    fn arrived(&self, _user: Uuid) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(true))
    }

    fn left(&self, _user: Uuid) {}

    fn publish(&self, _users: &[Uuid], _event: &Outgoing) {}

    fn dependency(&self) -> Option<Dependency> {
        None
    }
}
