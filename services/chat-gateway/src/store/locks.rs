//! The advisory locks a batch of messages takes on Postgres, so that each user's messages
//! commit in `id` order (a client that has every message up to id n has missed none below
//! it, whatever chats they are in: what `since` resumes from).
//!
//! A message of a private chat or a small group locks each member (one key per user, as
//! before groups). A large group's would lock thousands of keys per message, past what the
//! Postgres lock table holds (`max_locks_per_transaction` × connections, 6,400 by default),
//! so it locks stripes instead: every user falls in one of [`STRIPES`], and the large group's
//! message takes its members' stripes exclusively. For the two to exclude each other, every
//! per-user message also takes its members' stripes, shared: shared locks never wait for each
//! other, so private messages on different replicas go on in parallel as before, and wait only
//! for a large group's message whose members share a stripe with theirs.
//!
//! Every statement takes its locks in one order (per-user keys sorted, then stripes sorted),
//! so two batches never wait for each other in a cycle.

use uuid::Uuid;

/// Members up to which a message locks each of them.
const PER_USER_UP_TO: usize = 32;
/// Stripes users fall in: a large group's message holds at most this many locks.
const STRIPES: u32 = 256;
/// The class of per-user keys, as every release before groups took them ("chat").
const USER_CLASS: i32 = 0x6368_6174;
/// The class of stripes ("chst").
const STRIPE_CLASS: i32 = 0x6368_7374;

/// The locks of one batch, in the order they are taken: as the statement binds them.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Locks {
    pub(super) classes: Vec<i32>,
    pub(super) keys: Vec<i32>,
    pub(super) shared: Vec<bool>,
}

/// The locks a batch whose messages go to these members takes.
pub(super) fn for_batch<'a>(members: impl Iterator<Item = &'a [Uuid]>) -> Locks {
    let mut users: Vec<i32> = Vec::new();
    // Per stripe: whether some message takes it exclusively.
    let mut stripes: std::collections::BTreeMap<i32, bool> = std::collections::BTreeMap::new();
    for members in members {
        let large = members.len() > PER_USER_UP_TO;
        for member in members {
            if !large {
                users.push(user_key(*member));
            }
            let exclusive = stripes.entry(stripe(*member)).or_insert(false);
            *exclusive |= large;
        }
    }
    users.sort_unstable();
    users.dedup();
    let mut locks = Locks::default();
    for key in users {
        locks.classes.push(USER_CLASS);
        locks.keys.push(key);
        locks.shared.push(false);
    }
    for (key, exclusive) in stripes {
        locks.classes.push(STRIPE_CLASS);
        locks.keys.push(key);
        locks.shared.push(!exclusive);
    }
    locks
}

fn user_key(user: Uuid) -> i32 {
    let b = user.as_bytes();
    i32::from_be_bytes([b[0], b[1], b[2], b[3]]) ^ i32::from_be_bytes([b[12], b[13], b[14], b[15]])
}

fn stripe(user: Uuid) -> i32 {
    // The key's bits are random (UUIDv4): its remainder spreads users evenly.
    (user_key(user).unsigned_abs() % STRIPES) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::new_v4()).collect()
    }

    #[test]
    fn a_private_message_locks_its_two_members_and_shares_their_stripes() {
        let pair = users(2);
        let locks = for_batch([pair.as_slice()].into_iter());
        let user_locks = locks.classes.iter().filter(|c| **c == USER_CLASS).count();
        assert_eq!(user_locks, 2);
        assert!(locks.classes.iter().zip(&locks.shared).all(|(class, shared)| (*class == STRIPE_CLASS) == *shared));
    }

    /// However large the group, its message holds at most one lock per stripe, all exclusive;
    /// a private message in the same batch whose member shares a stripe takes it exclusively
    /// too (once), and its own user keys.
    #[test]
    fn a_large_groups_message_takes_stripes_exclusively_and_no_user_keys() {
        let group = users(10_000);
        let pair = vec![group[0], Uuid::new_v4()];
        let locks = for_batch([group.as_slice(), pair.as_slice()].into_iter());
        let stripes: Vec<(i32, bool)> = locks
            .classes
            .iter()
            .zip(locks.keys.iter().zip(&locks.shared))
            .filter(|(class, _)| **class == STRIPE_CLASS)
            .map(|(_, (key, shared))| (*key, *shared))
            .collect();
        assert!(stripes.len() <= STRIPES as usize);
        assert!(stripes.iter().all(|(key, _)| (0..STRIPES as i32).contains(key)));
        assert!(stripes.iter().any(|(key, shared)| *key == stripe(group[0]) && !shared));
        assert_eq!(locks.classes.iter().filter(|c| **c == USER_CLASS).count(), 2, "the pair's keys only");
    }

    /// One order for every statement: user keys sorted, then stripes sorted.
    #[test]
    fn locks_come_in_one_order() {
        let batch: Vec<Vec<Uuid>> = (0..50).map(|i| users(if i % 10 == 0 { 100 } else { 2 })).collect();
        let locks = for_batch(batch.iter().map(Vec::as_slice));
        let pairs: Vec<(i32, i32)> = locks.classes.iter().copied().zip(locks.keys.iter().copied()).collect();
        let users_end = pairs.iter().position(|(class, _)| *class == STRIPE_CLASS).unwrap();
        assert!(pairs[..users_end].iter().all(|(class, _)| *class == USER_CLASS));
        assert!(pairs[..users_end].windows(2).all(|w| w[0].1 < w[1].1));
        assert!(pairs[users_end..].iter().all(|(class, _)| *class == STRIPE_CLASS));
        assert!(pairs[users_end..].windows(2).all(|w| w[0].1 < w[1].1));
    }
}
