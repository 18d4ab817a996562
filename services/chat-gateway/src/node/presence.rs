//! Who is online. With Redis, each replica keeps, per user, an entry that expires unless the
//! replica renews it (every third of `PRESENCE_TTL_SECONDS`), so the users of a replica that
//! died go offline by themselves; a surviving replica claims the dead one (atomically, so only
//! one does) and tells their peers. Times are Redis's own clock, so replicas' clocks do not
//! matter. Without Redis (or while it is away) online means "has a connection here": no
//! caller waits on a Redis that is down. On a Redis Cluster every script stays within one
//! partition's slot (`partitions.rs`): a replica's users are listed per partition, and the
//! list of live replicas is a key of its own.

use std::{collections::HashSet, sync::Arc, time::Duration};

use futures_util::future::try_join_all;
use redis::Script;
use shared::redis_conn::RedisConn;
use uuid::Uuid;

use super::{
    health::BrokerHealth,
    known_presence::KnownPresence,
    partitions::{Layout, NODES},
    target::Target,
};

/// Redis's clock in milliseconds, in every script.
const NOW: &str =
    "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS: user key, node key, and on one server the live replicas. ARGV: node, ttl ms, user.
/// Returns live entries before.
const ARRIVE: &str = "local before = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2] * 2)
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2] * 3)
if KEYS[3] then redis.call('ZADD', KEYS[3], now + ARGV[2], ARGV[1]) end
return before";

/// KEYS: user key, node key. ARGV: node, user. Returns live entries after.
const LEAVE: &str = "redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')";

/// KEYS: user keys. Returns live entries of each.
const COUNT: &str = "local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('ZCOUNT', key, '(' .. now, '+inf') end
return out";

/// KEYS: live replicas. ARGV: node, ttl ms. This replica is alive.
const ALIVE: &str = "redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
return 1";

/// KEYS: node key, user keys. ARGV: node, ttl ms, then the users' ids. Renews this replica's
/// entries, and lists its users again (after a replica was claimed for dead by mistake, its
/// list is gone).
const RENEW: &str = "for i = 2, #KEYS do
  redis.call('ZADD', KEYS[i], now + ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2] * 2)
  redis.call('SADD', KEYS[1], ARGV[i + 1])
end
redis.call('PEXPIRE', KEYS[1], ARGV[2] * 3)
return 1";

/// KEYS: live replicas. Removes and returns (at most 10) replicas whose entries expired.
const CLAIM_DEAD: &str = "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 10)
for _, node in ipairs(dead) do redis.call('ZREM', KEYS[1], node) end
return dead";

fn script(body: &str) -> Script {
    Script::new(&format!("{NOW}{body}"))
}

pub(crate) enum Presence {
    /// One replica: online is "has a connection here", which the node knows.
    Local,
    Redis(Box<RedisPresence>),
}

pub(crate) struct RedisPresence {
    conn: RedisConn,
    layout: Layout,
    /// This replica's name in the entries.
    node: String,
    /// Whether the broker last found Redis up: while it does not, nobody waits on Redis.
    health: BrokerHealth,
    ttl: Duration,
    /// Answers and announcements, so that a message to a remote peer asks nothing.
    known: Arc<KnownPresence>,
    arrive: Script,
    leave: Script,
    count: Script,
    alive: Script,
    renew: Script,
    claim_dead: Script,
}

impl Presence {
    pub(crate) fn redis(conn: RedisConn, node: String, health: BrokerHealth, ttl: Duration) -> Self {
        Self::Redis(Box::new(RedisPresence {
            layout: Layout::of(&conn),
            conn,
            node,
            health,
            ttl,
            // As long as this replica's own entries go between renewals: no longer than
            // Redis's own knowledge of a replica that died can lag.
            known: Arc::new(KnownPresence::new(ttl / 3)),
            arrive: script(ARRIVE),
            leave: script(LEAVE),
            count: script(COUNT),
            alive: script(ALIVE),
            renew: script(RENEW),
            claim_dead: script(CLAIM_DEAD),
        }))
    }

    /// Records that `user` has a connection on this replica (its first here). True when the
    /// user was offline everywhere before.
    pub(crate) async fn arrived(&self, user: Uuid) -> bool {
        let Some(redis) = self.reachable() else { return true };
        match bounded(redis.arrive(&redis.node, user)).await {
            Ok(before) => before == 0,
            Err(err) => {
                tracing::warn!(error = %err, "presence not recorded");
                false
            }
        }
    }

    /// Records that `user`'s last connection on this replica is gone. True when the user is
    /// now offline everywhere.
    pub(crate) async fn left(&self, user: Uuid) -> bool {
        let Some(redis) = self.reachable() else { return true };
        match bounded(redis.leave(&redis.node, user)).await {
            Ok(after) => after == 0,
            Err(err) => {
                tracing::warn!(error = %err, "presence not cleared; it expires by itself");
                false
            }
        }
    }

    /// Which of `users` have a live connection on some replica; `None` when only the node
    /// can say (one replica, or Redis away or slow: then nobody but local users is taken for
    /// online, as an extra push beats a lost one). Redis is asked only about users this
    /// replica knows nothing recent of.
    pub(crate) async fn online_among(&self, users: &[Uuid]) -> Option<Vec<Uuid>> {
        let redis = self.reachable()?;
        let (lookup, asked) = redis.known.lookup(users);
        if lookup.unknown.is_empty() {
            return Some(lookup.online);
        }
        match bounded(redis.count(&lookup.unknown)).await {
            Ok(counts) => {
                let answers: Vec<(Uuid, bool)> = counts.into_iter().map(|(user, n)| (user, n > 0)).collect();
                redis.known.answered(asked, answers.iter().copied());
                let online: HashSet<Uuid> = lookup
                    .online
                    .into_iter()
                    .chain(answers.into_iter().filter(|(_, on)| *on).map(|(u, _)| u))
                    .collect();
                Some(users.iter().copied().filter(|u| online.contains(u)).collect())
            }
            Err(err) => {
                tracing::warn!(error = %err, "presence unknown");
                None
            }
        }
    }

    /// What this replica learns from the bus, when presence is Redis's (one replica knows
    /// everything already).
    pub(crate) fn known(&self) -> Option<Arc<KnownPresence>> {
        match self {
            Self::Local => None,
            Self::Redis(redis) => Some(redis.known.clone()),
        }
    }

    /// Redis, when it is configured and the broker last found it up.
    fn reachable(&self) -> Option<&RedisPresence> {
        match self {
            Self::Redis(redis) if redis.health.is_up() => Some(redis),
            _ => None,
        }
    }

    /// How often [`Presence::upkeep`] must run: a third of the entries' life.
    pub(crate) fn upkeep_interval(&self) -> Option<Duration> {
        match self {
            Self::Local => None,
            Self::Redis(redis) => Some(redis.ttl / 3),
        }
    }

    /// Renews this replica's entries (of `local_users`) and takes over from replicas that
    /// died: the users who went offline with them.
    pub(crate) async fn upkeep(&self, local_users: &[Uuid]) -> Vec<Uuid> {
        let Self::Redis(redis) = self else { return Vec::new() };
        redis.known.prune();
        if let Err(err) = redis.renew(local_users).await {
            tracing::warn!(error = %err, "presence not renewed");
        }
        redis.claim_dead().await.unwrap_or_else(|err| {
            tracing::warn!(error = %err, "cannot check for dead replicas");
            Vec::new()
        })
    }
}

impl RedisPresence {
    /// Live entries of `user` before this replica's was added.
    async fn arrive(&self, node: &str, user: Uuid) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        let mut invocation = self.arrive.prepare_invoke();
        invocation
            .key(self.layout.user_key(user))
            .key(self.layout.node_key(self.layout.partition(Target::User(user)), node));
        // On a cluster the list of live replicas is in a slot of its own: renewals keep it.
        if self.layout == Layout::Server {
            invocation.key(NODES);
        }
        invocation.arg(node).arg(ttl_ms(self.ttl)).arg(user.to_string()).invoke_async(&mut conn).await
    }

    /// Live entries of `user` after `node`'s was removed.
    async fn leave(&self, node: &str, user: Uuid) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        self.leave
            .key(self.layout.user_key(user))
            .key(self.layout.node_key(self.layout.partition(Target::User(user)), node))
            .arg(node)
            .arg(user.to_string())
            .invoke_async(&mut conn)
            .await
    }

    /// Live entries of each of `users`, one script per partition, the partitions at once.
    async fn count(&self, users: &[Uuid]) -> redis::RedisResult<Vec<(Uuid, i64)>> {
        let groups = self.layout.group(users.iter().copied(), |u| Target::User(*u));
        let counted = try_join_all(groups.into_iter().map(|(_, users)| async move {
            let mut conn = self.conn.clone();
            let mut invocation = self.count.prepare_invoke();
            for user in &users {
                invocation.key(self.layout.user_key(*user));
            }
            let counts: Vec<i64> = invocation.invoke_async(&mut conn).await?;
            Ok::<_, redis::RedisError>(users.into_iter().zip(counts).collect::<Vec<_>>())
        }))
        .await?;
        Ok(counted.into_iter().flatten().collect())
    }

    /// Keeps this replica alive, and its users' entries, in chunks of a partition's users.
    async fn renew(&self, users: &[Uuid]) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        self.alive.key(NODES).arg(&self.node).arg(ttl_ms(self.ttl)).invoke_async::<i64>(&mut conn).await?;
        for (partition, users) in self.layout.group(users.iter().copied(), |u| Target::User(*u)) {
            for chunk in users.chunks(500) {
                let mut invocation = self.renew.prepare_invoke();
                invocation.key(self.layout.node_key(partition, &self.node));
                invocation.arg(&self.node).arg(ttl_ms(self.ttl));
                for user in chunk {
                    invocation.key(self.layout.user_key(*user)).arg(user.to_string());
                }
                invocation.invoke_async::<i64>(&mut conn).await?;
            }
        }
        Ok(())
    }

    /// Users of dead replicas who are now offline everywhere.
    async fn claim_dead(&self) -> redis::RedisResult<Vec<Uuid>> {
        let mut conn = self.conn.clone();
        let dead: Vec<String> = self.claim_dead.key(NODES).invoke_async(&mut conn).await?;
        let mut gone = Vec::new();
        for node in dead {
            tracing::info!(%node, "a replica stopped renewing its presence; its users go offline");
            for partition in 0..self.layout.partitions() {
                let key = self.layout.node_key(partition, &node);
                let users: Vec<String> = redis::cmd("SMEMBERS").arg(&key).query_async(&mut conn).await?;
                for user in users.iter().filter_map(|u| Uuid::parse_str(u).ok()) {
                    if self.leave(&node, user).await? == 0 {
                        gone.push(user);
                    }
                }
                redis::cmd("DEL").arg(&key).query_async::<()>(&mut conn).await?;
            }
        }
        Ok(gone)
    }
}

/// A presence call answers within a second or counts as failed.
async fn bounded<T>(call: impl std::future::Future<Output = redis::RedisResult<T>>) -> redis::RedisResult<T> {
    tokio::time::timeout(Duration::from_secs(1), call)
        .await
        .unwrap_or_else(|_| Err(redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut))))
}

fn ttl_ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX)
}
