//! user-search's memory of exact lookups (by username key and by id), so that a name asked for
//! again is answered without the database.
//!
//! It is exact because an account's public fields change in one way only: auth-api deletes the
//! account (its name is freed for someone else) and notifies the accounts channel in the same
//! transaction (shared's `account_deletions`). Every replica forgets the account when it hears
//! that. What it could miss is covered in three ways:
//! - A lookup answered from the database while a deletion is being heard is not kept: every
//!   forgetting moves a generation on, and a fill read before it is dropped.
//! - A read replica behind the primary may still show an account heard deleted: the ids heard
//!   are remembered for longer than any replica may lag and still be read, and such an answer
//!   is asked of the primary instead (and not kept).
//! - While the listener is not listening (before it first connects, after a lost connection)
//!   nothing is answered from memory or kept, and everything is forgotten when it listens
//!   again.
//!
//! Only answers that found someone are kept: a name nobody has may be registered at any moment,
//! and registrations are not notified. On SQLite (one process, no notifications) it stays off.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::Utc;
use prometheus::{IntCounterVec, IntGauge, Opts, Registry};
use quick_cache::sync::Cache;
use sea_orm::{DatabaseBackend, DatabaseConnection, DbErr};
use shared::{
    account_deletions::{self, Heard},
    read_replica::Reads,
    server::Stopping,
};
use uuid::Uuid;

use crate::queries::{self, PublicUser};

/// How long an account heard deleted is remembered: longer than a read replica may be behind and
/// still be read (`DATABASE_READ_MAX_LAG_SECONDS` is at most an hour).
const DELETED_KEPT: Duration = Duration::from_secs(2 * 3600);

/// How soon the deletions missed while not listening are read again when they could not be.
const RETRY_EVERY: Duration = Duration::from_secs(1);

/// What a lookup asks by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Lookup {
    /// A username key (`UsernameKey`).
    Name(String),
    Id(Uuid),
}

impl Lookup {
    async fn ask(&self, db: &DatabaseConnection) -> Result<Option<PublicUser>, DbErr> {
        match self {
            Self::Name(key) => queries::by_username_key(db, key).await,
            Self::Id(id) => queries::by_id(db, *id).await,
        }
    }
}

pub struct LookupCache {
    /// `None` when `LOOKUP_CACHE_ENTRIES` is 0.
    entries: Option<Cache<Lookup, Arc<PublicUser>>>,
    /// Whether the listener listens: nothing is answered from memory or kept while it does not.
    listening: AtomicBool,
    /// Moved on by every forgetting.
    generation: AtomicU64,
    /// Accounts heard deleted lately, and when.
    deleted: Mutex<HashMap<Uuid, Instant>>,
    metrics: CacheMetrics,
}

struct CacheMetrics {
    lookups: IntCounterVec,
    entries: IntGauge,
}

impl LookupCache {
    /// A cache of at most `capacity` answers (none: off). It answers nothing until [`watch`]
    /// hears the listener listen.
    pub fn new(capacity: usize) -> Self {
        Self {
            entries: (capacity > 0).then(|| Cache::new(capacity)),
            listening: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            deleted: Mutex::new(HashMap::new()),
            metrics: CacheMetrics::new(),
        }
    }

    /// The user `key` finds: from memory, or from the database `reads` says (and then kept
    /// when it may be).
    pub async fn find(&self, reads: &Reads, key: Lookup) -> Result<Option<PublicUser>, DbErr> {
        let Some(entries) = self.serving() else { return key.ask(reads.lagging()).await };
        if let Some(user) = entries.get(&key) {
            self.metrics.lookups.with_label_values(&["hit"]).inc();
            return Ok(Some(PublicUser::clone(&user)));
        }
        self.metrics.lookups.with_label_values(&["miss"]).inc();
        let read_at = self.generation.load(Ordering::Acquire);
        let Some(user) = key.ask(reads.lagging()).await? else { return Ok(None) };
        if self.is_deleted(user.user_id) {
            // A replica that has not replayed the deletion yet; the primary has.
            return key.ask(reads.primary()).await;
        }
        self.keep(key, &user, read_at);
        Ok(Some(user))
    }

    /// Keeps `user` as the answer to `key`, read at generation `read_at`: only if nothing was
    /// forgotten since (the read may predate it) and the listener still listens.
    fn keep(&self, key: Lookup, user: &PublicUser, read_at: u64) {
        let Some(entries) = self.serving() else { return };
        if self.generation.load(Ordering::Acquire) == read_at && !self.is_deleted(user.user_id) {
            entries.insert(key, Arc::new(user.clone()));
            self.metrics.entries.set(i64::try_from(entries.len()).unwrap_or(i64::MAX));
        }
    }

    /// Adds the cache's metrics to `registry`.
    pub fn register(&self, registry: &Registry) -> prometheus::Result<()> {
        registry.register(Box::new(self.metrics.lookups.clone()))?;
        registry.register(Box::new(self.metrics.entries.clone()))
    }

    /// The entries, when answers may come from them now.
    fn serving(&self) -> Option<&Cache<Lookup, Arc<PublicUser>>> {
        self.entries.as_ref().filter(|_| self.listening.load(Ordering::Acquire))
    }

    fn is_deleted(&self, user: Uuid) -> bool {
        self.deleted.lock().unwrap_or_else(PoisonError::into_inner).contains_key(&user)
    }

    /// These accounts are gone: their answers are forgotten, and a lagging read that still
    /// finds them is not believed.
    fn forget_deleted(&self, users: &[Uuid], heard_at: Instant) {
        {
            let mut deleted = self.deleted.lock().unwrap_or_else(PoisonError::into_inner);
            deleted.retain(|_, at| heard_at.saturating_duration_since(*at) < DELETED_KEPT);
            deleted.extend(users.iter().map(|user| (*user, heard_at)));
        }
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.retain(|_, user| !users.contains(&user.user_id));
            self.metrics.entries.set(i64::try_from(entries.len()).unwrap_or(i64::MAX));
        }
    }

    /// Listening or not from now on; either way what is in memory may be stale, so it goes.
    fn set_listening(&self, listening: bool) {
        self.listening.store(listening, Ordering::Release);
        self.generation.fetch_add(1, Ordering::AcqRel);
        if let Some(entries) = &self.entries {
            entries.clear();
            self.metrics.entries.set(0);
        }
    }
}

impl CacheMetrics {
    fn new() -> Self {
        let lookups = IntCounterVec::new(
            Opts::new(
                "chat_suite_lookup_cache_lookups_total",
                "Exact user lookups asked of the lookup cache, by whether it held the answer (hit, miss)",
            ),
            &["result"],
        )
        .unwrap_or_else(|err| unreachable!("a constant metric definition: {err}"));
        let entries = IntGauge::new("chat_suite_lookup_cache_entries", "Answers the lookup cache holds")
            .unwrap_or_else(|err| unreachable!("a constant metric definition: {err}"));
        Self { lookups, entries }
    }
}

/// Keeps `cache` exact until the service stops: listens for deletions on the primary (Postgres
/// only; on SQLite the cache never serves).
pub async fn watch(cache: Arc<LookupCache>, primary: DatabaseConnection, stopping: Stopping) {
    if cache.entries.is_none() || primary.get_database_backend() != DatabaseBackend::Postgres {
        return;
    }
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(account_deletions::listen(primary.clone(), tx, stopping));
    // Listening, but the deletions missed before could not be read yet: tried again each tick.
    let mut unsure = false;
    let mut retry = tokio::time::interval(RETRY_EVERY);
    let mut waiting = None;
    loop {
        let news = match waiting.take() {
            Some(news) => news,
            None => tokio::select! {
                news = heard.recv() => match news {
                    Some(news) => news,
                    None => return,
                },
                _ = retry.tick(), if unsure => Heard::Listening,
            },
        };
        match news {
            Heard::Listening => match deleted_lately(&primary).await {
                // Deletions not heard while not listening: a lagging replica may still show them.
                Ok(users) => {
                    cache.forget_deleted(&users, Instant::now());
                    cache.set_listening(true);
                    unsure = false;
                }
                Err(err) => {
                    if !unsure {
                        tracing::warn!(error = %err, "deleted accounts unreadable; lookups skip the cache until they are read");
                    }
                    cache.set_listening(false);
                    unsure = true;
                }
            },
            Heard::Lost => {
                cache.set_listening(false);
                unsure = false;
            }
            Heard::Deleted(user) => {
                // One pass over the entries for all the deletions waiting.
                let mut users = vec![user];
                while let Ok(next) = heard.try_recv() {
                    match next {
                        Heard::Deleted(user) => users.push(user),
                        other => {
                            waiting = Some(other);
                            break;
                        }
                    }
                }
                cache.forget_deleted(&users, Instant::now());
            }
        }
    }
}

/// Accounts deleted within [`DELETED_KEPT`].
async fn deleted_lately(primary: &DatabaseConnection) -> Result<Vec<Uuid>, DbErr> {
    let kept = chrono::Duration::from_std(DELETED_KEPT).unwrap_or(chrono::Duration::hours(2));
    account_deletions::deleted_since(primary, Utc::now() - kept).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> PublicUser {
        PublicUser { user_id: Uuid::new_v4(), username: name.to_owned(), username_key: name.to_owned() }
    }

    fn listening(capacity: usize) -> LookupCache {
        let cache = LookupCache::new(capacity);
        cache.set_listening(true);
        cache
    }

    fn held(cache: &LookupCache, key: &Lookup) -> Option<PublicUser> {
        cache.serving()?.get(key).map(|user| PublicUser::clone(&user))
    }

    #[test]
    fn an_answer_is_kept_while_listening() {
        let cache = listening(10);
        let (alice, key) = (user("alice"), Lookup::Name("alice".into()));
        cache.keep(key.clone(), &alice, cache.generation.load(Ordering::Acquire));
        assert_eq!(held(&cache, &key), Some(alice));
    }

    #[test]
    fn an_answer_read_before_a_deletion_was_heard_is_not_kept() {
        let cache = listening(10);
        let (alice, key) = (user("alice"), Lookup::Name("alice".into()));
        let read_at = cache.generation.load(Ordering::Acquire);
        // Someone else's deletion, heard while alice's row was being read: that read may be of
        // the name before it was freed, so it is not kept.
        cache.forget_deleted(&[Uuid::new_v4()], Instant::now());
        cache.keep(key.clone(), &alice, read_at);
        assert_eq!(held(&cache, &key), None);
    }

    #[test]
    fn a_deletion_forgets_every_answer_of_the_account_and_refuses_it_later() {
        let cache = listening(10);
        let (alice, bob) = (user("alice"), user("bob"));
        for (key, who) in [
            (Lookup::Name("alice".into()), &alice),
            (Lookup::Id(alice.user_id), &alice),
            (Lookup::Name("bob".into()), &bob),
        ] {
            cache.keep(key, who, cache.generation.load(Ordering::Acquire));
        }
        cache.forget_deleted(&[alice.user_id], Instant::now());
        assert_eq!(held(&cache, &Lookup::Name("alice".into())), None);
        assert_eq!(held(&cache, &Lookup::Id(alice.user_id)), None);
        assert_eq!(held(&cache, &Lookup::Name("bob".into())), Some(bob));
        // A lagging read that still finds alice is not kept either.
        let key = Lookup::Name("alice".into());
        cache.keep(key.clone(), &alice, cache.generation.load(Ordering::Acquire));
        assert_eq!(held(&cache, &key), None);
        assert!(cache.is_deleted(alice.user_id));
    }

    #[test]
    fn nothing_is_served_or_kept_while_not_listening_and_listening_again_starts_empty() {
        let cache = listening(10);
        let (alice, key) = (user("alice"), Lookup::Name("alice".into()));
        cache.keep(key.clone(), &alice, cache.generation.load(Ordering::Acquire));
        cache.set_listening(false);
        assert!(cache.serving().is_none());
        cache.keep(key.clone(), &alice, cache.generation.load(Ordering::Acquire));
        cache.set_listening(true);
        assert_eq!(held(&cache, &key), None, "what was held before the gap is gone");
    }

    #[test]
    fn deleted_accounts_are_remembered_for_two_hours() {
        let cache = listening(10);
        let (early, late) = (Uuid::new_v4(), Uuid::new_v4());
        let start = Instant::now();
        cache.forget_deleted(&[early], start);
        cache.forget_deleted(&[late], start + DELETED_KEPT - Duration::from_secs(1));
        assert!(cache.is_deleted(early) && cache.is_deleted(late));
        cache.forget_deleted(&[], start + DELETED_KEPT);
        assert!(!cache.is_deleted(early));
        assert!(cache.is_deleted(late));
    }

    #[test]
    fn a_cache_of_no_entries_is_off() {
        let cache = listening(0);
        assert!(cache.serving().is_none());
    }
}
