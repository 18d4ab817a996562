//! What this replica has learned of other users' presence, so that a message to a peer on
//! another replica does not ask Redis, each time, whether the peer is online (a round trip
//! before the message can be queued, and a script on Redis, per message).
//!
//! Redis's answers are kept for a while, and the bus keeps them right meanwhile: a user who
//! comes online or goes offline anywhere is announced to all of their chat peers, so a replica
//! holding a connection of one of those peers (the only replica that asks about the user)
//! hears of it. What could be missed (events lost while the bus was away, or of a format this
//! release cannot read) clears everything known, and every answer expires anyway: a mistake is
//! bounded by the answer's life. An answer that left Redis before an announcement arrived does
//! not overwrite it.

use std::{collections::HashMap, sync::Mutex, time::Duration};

use tokio::time::Instant;
use uuid::Uuid;

pub(crate) struct KnownPresence {
    known: Mutex<Known>,
    /// How long an answer from Redis is taken as true.
    life: Duration,
}

#[derive(Default)]
struct Known {
    users: HashMap<Uuid, Entry>,
    /// Counts what was learned from announcements (and forgetting): an answer is only taken
    /// for users not heard of since it was asked.
    heard: u64,
    /// Answers asked before this were asked before everything was forgotten.
    forgotten_at: u64,
}

struct Entry {
    online: bool,
    until: Instant,
    /// `Known::heard` when this was learned.
    stamp: u64,
}

/// Where the knowledge stood when Redis was asked (see [`KnownPresence::answered`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Asked(u64);

/// What is known of some users, and whom to ask.
#[derive(Debug, Default)]
pub(crate) struct Lookup {
    pub(crate) online: Vec<Uuid>,
    pub(crate) unknown: Vec<Uuid>,
}

impl KnownPresence {
    pub(crate) fn new(life: Duration) -> Self {
        Self { known: Mutex::default(), life }
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        // Every change leaves the map consistent: a panic while holding the lock cannot break it.
        self.known.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Which of `users` are known online, which known offline (left out), and which must be
    /// asked; with where the knowledge stands, to hand back with the answers.
    pub(crate) fn lookup(&self, users: &[Uuid]) -> (Lookup, Asked) {
        let now = Instant::now();
        let known = self.known();
        let mut lookup = Lookup::default();
        for user in users {
            match known.users.get(user) {
                Some(entry) if entry.until > now => {
                    if entry.online {
                        lookup.online.push(*user);
                    }
                }
                _ => lookup.unknown.push(*user),
            }
        }
        (lookup, Asked(known.heard))
    }

    /// Redis's answers for users asked at `asked`; kept unless an announcement came since.
    pub(crate) fn answered(&self, asked: Asked, answers: impl IntoIterator<Item = (Uuid, bool)>) {
        let until = Instant::now() + self.life;
        let mut known = self.known();
        if asked.0 < known.forgotten_at {
            return;
        }
        for (user, online) in answers {
            if known.users.get(&user).is_some_and(|entry| entry.stamp > asked.0) {
                continue;
            }
            known.users.insert(user, Entry { online, until, stamp: asked.0 });
        }
    }

    /// An announcement: `user` came online or went offline.
    pub(crate) fn heard(&self, user: Uuid, online: bool) {
        let until = Instant::now() + self.life;
        let mut known = self.known();
        known.heard += 1;
        let stamp = known.heard;
        known.users.insert(user, Entry { online, until, stamp });
    }

    /// Announcements may have been missed: nothing known is taken as true any more, nor any
    /// answer on its way.
    pub(crate) fn forget_all(&self) {
        let mut known = self.known();
        known.heard += 1;
        known.forgotten_at = known.heard;
        known.users.clear();
    }

    /// Drops what expired (the map would otherwise keep every user ever asked about).
    pub(crate) fn prune(&self) {
        let now = Instant::now();
        self.known().users.retain(|_, entry| entry.until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(life: Duration) -> (KnownPresence, Uuid, Uuid) {
        (KnownPresence::new(life), Uuid::new_v4(), Uuid::new_v4())
    }

    #[test]
    fn answers_are_kept_and_asked_again_once_expired() {
        let (presence, on, off) = known(Duration::from_millis(50));
        let (first, asked) = presence.lookup(&[on, off]);
        assert_eq!((first.online.len(), first.unknown.len()), (0, 2));
        presence.answered(asked, [(on, true), (off, false)]);
        let (second, _) = presence.lookup(&[on, off]);
        assert_eq!((second.online, second.unknown), (vec![on], vec![]), "both known, one online");
        std::thread::sleep(Duration::from_millis(60));
        let (third, _) = presence.lookup(&[on, off]);
        assert_eq!(third.unknown, vec![on, off]);
        presence.prune();
        assert!(presence.known().users.is_empty());
    }

    /// A user went offline while Redis's answer (from before) was on its way: the answer must
    /// not make them online again, or their messages would not be pushed.
    #[test]
    fn an_answer_older_than_an_announcement_is_not_taken() {
        let (presence, user, other) = known(Duration::from_secs(60));
        let (_, asked) = presence.lookup(&[user, other]);
        presence.heard(user, false);
        presence.answered(asked, [(user, true), (other, true)]);
        let (lookup, _) = presence.lookup(&[user, other]);
        assert_eq!((lookup.online, lookup.unknown), (vec![other], vec![]));
        presence.heard(user, true);
        assert_eq!(presence.lookup(&[user]).0.online, vec![user]);
    }

    #[test]
    fn forgetting_drops_what_is_known_and_what_is_on_its_way() {
        let (presence, user, other) = known(Duration::from_secs(60));
        presence.heard(user, true);
        let (_, asked) = presence.lookup(&[other]);
        presence.forget_all();
        presence.answered(asked, [(other, true)]);
        assert_eq!(presence.lookup(&[user, other]).0.unknown, vec![user, other]);
        let (_, asked) = presence.lookup(&[other]);
        presence.answered(asked, [(other, false)]);
        assert!(presence.lookup(&[other]).0.unknown.is_empty(), "asked after forgetting: taken");
    }
}
