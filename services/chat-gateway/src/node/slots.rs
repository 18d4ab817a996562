//! How many connections this replica holds, and one user of them (Centrifugo's
//! `client_user_connection_limit`, per node as there). A connection takes a slot before the
//! upgrade, so a refusal is an HTTP status, and gives it back when it ends, however it ends.
//! Without a bound per user, one account could hold any number of sockets, each with its queue
//! and buffers, and every message to it would be written that many times. Without a bound per
//! replica, the process runs out of descriptors: then `accept` fails, new clients hang unanswered
//! and the probes with them, and Kubernetes restarts a healthy pod holding everyone.

use std::sync::{
    Arc, Mutex, MutexGuard, PoisonError,
    atomic::{AtomicUsize, Ordering},
};

use shared::{config::CommonConfig, server::descriptors};
use uuid::Uuid;

use crate::config::ChatSettings;

/// Descriptors kept for what is not a client connection, besides two per database connection
/// (the primary's pool and a read replica's): Redis (a cluster's nodes, two each), the listener,
/// the runtime and its log, and the probes and REST requests a full replica still answers.
const RESERVE: u64 = 256;

pub struct ConnectionSlots {
    per_user: usize,
    capacity: usize,
    held: AtomicUsize,
    taken: Mutex<std::collections::HashMap<Uuid, usize>>,
}

/// Why a connection got no slot.
#[derive(Debug, PartialEq, Eq)]
pub enum NoSlot {
    /// The user holds as many as one may.
    User,
    /// The replica holds as many as it can.
    Replica,
}

/// A connection's slot; dropping it frees it.
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    user: Uuid,
}

impl ConnectionSlots {
    pub fn new(per_user: usize, capacity: usize) -> Arc<Self> {
        Arc::new(Self { per_user, capacity, held: AtomicUsize::new(0), taken: Mutex::default() })
    }

    /// The replica's capacity: `WS_MAX_CONNECTIONS`, if set and the open-file limit (raised to
    /// the hard one here) allows it, else what that limit allows less the reserve.
    pub fn replica_capacity(settings: &ChatSettings, common: &CommonConfig) -> usize {
        let limit = descriptors::raise_open_file_limit();
        let reserve = 2 * u64::from(common.database_max_connections) + RESERVE;
        let budget = descriptors::client_budget(limit, reserve);
        let capacity = match settings.ws_max_connections.map(u64::from) {
            Some(wanted) if wanted > budget => {
                tracing::warn!(
                    wanted,
                    open_file_limit = ?limit,
                    "WS_MAX_CONNECTIONS is more than the open-file limit allows; holding at most {budget}"
                );
                budget
            }
            Some(wanted) => wanted,
            None => budget,
        };
        tracing::info!(open_file_limit = ?limit, capacity, "connections this replica holds at most");
        usize::try_from(capacity).unwrap_or(usize::MAX)
    }

    pub fn per_user(&self) -> usize {
        self.per_user
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Whether the replica holds all it can: checked before anything else about a client.
    pub fn is_full(&self) -> bool {
        self.held.load(Ordering::Relaxed) >= self.capacity
    }

    /// A slot for one more connection of `user`.
    pub fn take(self: &Arc<Self>, user: Uuid) -> Result<Slot, NoSlot> {
        let mut taken = self.taken();
        if self.is_full() {
            return Err(NoSlot::Replica);
        }
        let count = taken.entry(user).or_default();
        if *count >= self.per_user {
            return Err(NoSlot::User);
        }
        *count += 1;
        self.held.fetch_add(1, Ordering::Relaxed);
        Ok(Slot { slots: self.clone(), user })
    }

    fn taken(&self) -> MutexGuard<'_, std::collections::HashMap<Uuid, usize>> {
        // The map stays consistent whatever panicked while it was held.
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut taken = self.slots.taken();
        if let Some(count) = taken.get_mut(&self.user) {
            *count = count.saturating_sub(1);
            self.slots.held.fetch_sub(1, Ordering::Relaxed);
            if *count == 0 {
                taken.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_the_limit_and_a_dropped_slot_is_free_again() {
        let slots = ConnectionSlots::new(2, 100);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.take(alice).unwrap();
        let _second = slots.take(alice).unwrap();
        assert_eq!(slots.take(alice).err(), Some(NoSlot::User));
        assert!(slots.take(bob).is_ok(), "another user has slots of their own");
        drop(first);
        assert!(slots.take(alice).is_ok());
    }

    #[test]
    fn the_replica_holds_at_most_its_capacity_whoever_connects() {
        let slots = ConnectionSlots::new(2, 3);
        let held: Vec<Slot> = (0..3).map(|_| slots.take(Uuid::new_v4()).unwrap()).collect();
        assert!(slots.is_full());
        assert_eq!(slots.take(Uuid::new_v4()).err(), Some(NoSlot::Replica));
        drop(held);
        assert!(!slots.is_full());
        assert!(slots.take(Uuid::new_v4()).is_ok());
    }

    #[test]
    fn users_without_connections_are_not_kept() {
        let slots = ConnectionSlots::new(1, 10);
        drop(slots.take(Uuid::new_v4()));
        assert!(slots.taken().is_empty());
        assert_eq!(slots.held.load(Ordering::Relaxed), 0);
    }
}
