//! The accounts deleted lately (the accounts watcher, `accounts.rs`, fills it): what admission
//! looks at before it lets a token in.

use std::{collections::HashSet, sync::RwLock};

use uuid::Uuid;

/// The accounts deleted lately, whose tokens may still verify, and which of them this replica
/// has settled the chats of.
#[derive(Default)]
pub(crate) struct DeletedAccounts(RwLock<Known>);

#[derive(Default)]
struct Known {
    deleted: HashSet<Uuid>,
    settled: HashSet<Uuid>,
}

impl DeletedAccounts {
    pub(crate) fn contains(&self, user: Uuid) -> bool {
        self.known().deleted.contains(&user)
    }

    /// Whether `user` is new here (its connections are to be ended).
    pub(crate) fn insert(&self, user: Uuid) -> bool {
        self.known_mut().deleted.insert(user)
    }

    pub(crate) fn is_settled(&self, user: Uuid) -> bool {
        self.known().settled.contains(&user)
    }

    pub(crate) fn settled(&self, user: Uuid) {
        self.known_mut().settled.insert(user);
    }

    fn known(&self) -> std::sync::RwLockReadGuard<'_, Known> {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn known_mut(&self) -> std::sync::RwLockWriteGuard<'_, Known> {
        self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
