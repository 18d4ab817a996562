//! What carries events between replicas, as socketioxide's adapters do: the node delivers to
//! its own connections itself, and hands the broker what the other replicas must hear.

use futures_util::future::BoxFuture;
use shared::readiness::Dependency;

use super::{envelope::Outgoing, target::Target};

/// The seam between one replica and many: [`InProcess`] when this process is the only
/// replica, [`super::RedisBroker`] when Redis joins them.
pub(crate) trait Broker: Send + Sync + 'static {
    /// A connection of the user, or one joining the room, arrived here: after this resolves
    /// true, whatever another replica publishes to `target` reaches this one. False when that
    /// could not be confirmed (the connection then resynchronises when the broker is back).
    fn arrived(&self, target: Target) -> BoxFuture<'_, bool>;

    /// A connection of the user, or one in the room, left here: one call for each `arrived`.
    fn left(&self, target: Target);

    /// Hands `event` to the other replicas holding connections of `targets`; never waits.
    fn publish(&self, targets: &[Target], event: &Outgoing);

    /// What the replica's readiness depends on.
    fn dependency(&self) -> Option<Dependency>;
}

/// One replica: there is nobody else to tell.
pub(crate) struct InProcess;

impl Broker for InProcess {
    fn arrived(&self, _target: Target) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(true))
    }

    fn left(&self, _target: Target) {}

    fn publish(&self, _targets: &[Target], _event: &Outgoing) {}

    fn dependency(&self) -> Option<Dependency> {
        None
    }
}
