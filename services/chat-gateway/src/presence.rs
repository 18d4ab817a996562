//! Who is online. With Redis, each replica keeps, per user, an entry that expires unless the
//! replica renews it (every third of `PRESENCE_TTL_SECONDS`), so the users of a replica that
//! died go offline by themselves; a surviving replica claims the dead one (atomically, so only
//! one does) and tells their peers. Times are Redis's own clock, so replicas' clocks do not
//! matter. Without Redis (or while it is away) online means "has a connection here": no
//! caller waits on a Redis that is down.

use std::{sync::Arc, time::Duration};

use redis::{Script, aio::ConnectionManager};
use shared::server::Stopping;
use uuid::Uuid;

use crate::hub::Hub;

const NODES: &str = "chat:presence:nodes";

fn user_key(user: Uuid) -> String {
    format!("chat:presence:user:{user}")
}

fn node_key(node: &str) -> String {
    format!("chat:presence:node:{node}")
}

/// Redis's clock in milliseconds, in every script.
const NOW: &str =
    "local t = redis.call('TIME'); local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n";

/// KEYS: user key, node key, nodes. ARGV: node, ttl ms, user. Returns live entries before.
const ARRIVE: &str = "local before = redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')
redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2] * 2)
redis.call('SADD', KEYS[2], ARGV[3])
redis.call('PEXPIRE', KEYS[2], ARGV[2] * 3)
redis.call('ZADD', KEYS[3], now + ARGV[2], ARGV[1])
return before";

/// KEYS: user key, node key. ARGV: node, user. Returns live entries after.
const LEAVE: &str = "redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('SREM', KEYS[2], ARGV[2])
return redis.call('ZCOUNT', KEYS[1], '(' .. now, '+inf')";

/// KEYS: user keys. Returns live entries of each.
const COUNT: &str = "local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('ZCOUNT', key, '(' .. now, '+inf') end
return out";

/// KEYS: nodes, node key, user keys. ARGV: node, ttl ms. Renews this replica's entries.
const RENEW: &str = "redis.call('ZADD', KEYS[1], now + ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2] * 3)
for i = 3, #KEYS do
  redis.call('ZADD', KEYS[i], now + ARGV[2], ARGV[1])
  redis.call('PEXPIRE', KEYS[i], ARGV[2] * 2)
end
return 1";

/// KEYS: nodes. Removes and returns (at most 10) replicas whose entries expired.
const CLAIM_DEAD: &str = "local dead = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, 10)
for _, node in ipairs(dead) do redis.call('ZREM', KEYS[1], node) end
return dead";

fn script(body: &str) -> Script {
    Script::new(&format!("{NOW}{body}"))
}

pub enum Presence {
    Local,
    Redis(Box<RedisPresence>),
}

pub struct RedisPresence {
    conn: ConnectionManager,
    ttl: Duration,
    arrive: Script,
    leave: Script,
    count: Script,
    renew: Script,
    claim_dead: Script,
}

impl Presence {
    pub fn redis(conn: ConnectionManager, ttl: Duration) -> Self {
        Self::Redis(Box::new(RedisPresence {
            conn,
            ttl,
            arrive: script(ARRIVE),
            leave: script(LEAVE),
            count: script(COUNT),
            renew: script(RENEW),
            claim_dead: script(CLAIM_DEAD),
        }))
    }

    /// Records that `user` has a connection on this replica (its first here). True when the
    /// user was offline everywhere before.
    pub async fn arrived(&self, hub: &Hub, user: Uuid) -> bool {
        let Some(redis) = self.reachable(hub) else { return true };
        match bounded(redis.arrive(hub.node(), user)).await {
            Ok(before) => before == 0,
            Err(err) => {
                tracing::warn!(error = %err, "presence not recorded");
                false
            }
        }
    }

    /// Records that `user`'s last connection on this replica is gone. True when the user is
    /// now offline everywhere.
    pub async fn left(&self, hub: &Hub, user: Uuid) -> bool {
        let Some(redis) = self.reachable(hub) else { return true };
        match bounded(redis.leave(hub.node(), user)).await {
            Ok(after) => after == 0,
            Err(err) => {
                tracing::warn!(error = %err, "presence not cleared; it expires by itself");
                false
            }
        }
    }

    /// Which of `users` have a live connection on some replica. When Redis cannot say, nobody
    /// is taken for online (an extra push beats a lost one).
    pub async fn online_among(&self, hub: &Hub, users: &[Uuid]) -> Vec<Uuid> {
        match self.reachable(hub) {
            None => users.iter().copied().filter(|u| hub.is_local(*u)).collect(),
            Some(redis) => {
                if users.is_empty() {
                    return Vec::new();
                }
                let mut conn = redis.conn.clone();
                let mut invocation = redis.count.prepare_invoke();
                for user in users {
                    invocation.key(user_key(*user));
                }
                match bounded(invocation.invoke_async::<Vec<i64>>(&mut conn)).await {
                    Ok(counts) => users.iter().zip(counts).filter(|(_, n)| *n > 0).map(|(u, _)| *u).collect(),
                    Err(err) => {
                        tracing::warn!(error = %err, "presence unknown");
                        users.iter().copied().filter(|u| hub.is_local(*u)).collect()
                    }
                }
            }
        }
    }

    /// Redis, when it is configured and the bus last found it up.
    fn reachable(&self, hub: &Hub) -> Option<&RedisPresence> {
        match self {
            Self::Redis(redis) if hub.bus().is_some_and(|bus| bus.is_up()) => Some(redis),
            _ => None,
        }
    }

    /// Keeps this replica's entries alive and takes over from replicas that died; `on_offline`
    /// hears of every user who went offline with them.
    pub async fn maintain<F, Fut>(&self, hub: Arc<Hub>, on_offline: F, mut stopping: Stopping)
    where
        F: Fn(Uuid) -> Fut,
        Fut: std::future::Future<Output = ()>,
    {
        let Self::Redis(redis) = self else { return };
        let mut tick = tokio::time::interval(redis.ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = stopping.wait() => return,
            }
            if let Err(err) = redis.renew(&hub).await {
                tracing::warn!(error = %err, "presence not renewed");
            }
            match redis.claim_dead().await {
                Ok(gone) => {
                    for user in gone {
                        on_offline(user).await;
                    }
                }
                Err(err) => tracing::warn!(error = %err, "cannot check for dead replicas"),
            }
        }
    }
}

impl RedisPresence {
    /// Live entries of `user` before this replica's was added.
    async fn arrive(&self, node: &str, user: Uuid) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        self.arrive
            .key(user_key(user))
            .key(node_key(node))
            .key(NODES)
            .arg(node)
            .arg(ttl_ms(self.ttl))
            .arg(user.to_string())
            .invoke_async(&mut conn)
            .await
    }

    /// Live entries of `user` after `node`'s was removed.
    async fn leave(&self, node: &str, user: Uuid) -> redis::RedisResult<i64> {
        let mut conn = self.conn.clone();
        self.leave.key(user_key(user)).key(node_key(node)).arg(node).arg(user.to_string()).invoke_async(&mut conn).await
    }

    async fn renew(&self, hub: &Hub) -> redis::RedisResult<()> {
        let mut conn = self.conn.clone();
        let users = hub.local_users();
        // Renew the replica itself even with no users, in chunks of users otherwise.
        let chunks: Vec<&[Uuid]> = if users.is_empty() { vec![&[]] } else { users.chunks(500).collect() };
        for chunk in chunks {
            let mut invocation = self.renew.prepare_invoke();
            invocation.key(NODES).key(node_key(hub.node()));
            for user in chunk {
                invocation.key(user_key(*user));
            }
            invocation.arg(hub.node()).arg(ttl_ms(self.ttl));
            invocation.invoke_async::<i64>(&mut conn).await?;
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
            let users: Vec<String> = redis::cmd("SMEMBERS").arg(node_key(&node)).query_async(&mut conn).await?;
            for user in users.iter().filter_map(|u| Uuid::parse_str(u).ok()) {
                if self.leave(&node, user).await? == 0 {
                    gone.push(user);
                }
            }
            redis::cmd("DEL").arg(node_key(&node)).query_async::<()>(&mut conn).await?;
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
