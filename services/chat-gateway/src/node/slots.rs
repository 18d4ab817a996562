//! How many connections one user may hold on this replica at once (Centrifugo's
//! `client_user_connection_limit`, per node as there). A connection takes a slot before the
//! upgrade, so a refusal is an HTTP status, and gives it back when it ends, however it ends.
//! Without a bound, one account could hold any number of sockets, each with its queue and
//! buffers, and every message to it would be written that many times.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use uuid::Uuid;

pub struct ConnectionSlots {
    limit: usize,
    taken: Mutex<HashMap<Uuid, usize>>,
}

/// A connection's slot; dropping it frees it.
pub struct Slot {
    slots: Arc<ConnectionSlots>,
    user: Uuid,
}

impl ConnectionSlots {
    pub fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self { limit, taken: Mutex::default() })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    /// A slot for one more connection of `user`, or none when the user holds them all.
    pub fn take(self: &Arc<Self>, user: Uuid) -> Option<Slot> {
        let mut taken = self.taken();
        let count = taken.entry(user).or_default();
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot { slots: self.clone(), user })
    }

    fn taken(&self) -> MutexGuard<'_, HashMap<Uuid, usize>> {
        // The map stays consistent whatever panicked while it was held.
        self.taken.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut taken = self.slots.taken();
        if let Some(count) = taken.get_mut(&self.user) {
            *count = count.saturating_sub(1);
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
        let slots = ConnectionSlots::new(2);
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let first = slots.take(alice).unwrap();
        let _second = slots.take(alice).unwrap();
        assert!(slots.take(alice).is_none());
        assert!(slots.take(bob).is_some(), "another user has slots of their own");
        drop(first);
        assert!(slots.take(alice).is_some());
    }

    #[test]
    fn users_without_connections_are_not_kept() {
        let slots = ConnectionSlots::new(1);
        drop(slots.take(Uuid::new_v4()));
        assert!(slots.taken().is_empty());
    }
}
