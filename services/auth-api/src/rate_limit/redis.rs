use std::{num::NonZeroU32, time::Duration};

use redis::{Script, aio::ConnectionManager};

use super::RetryAfter;

/// GCRA in Redis, the same algorithm as the in-memory limiter, evaluated atomically in one
/// script with Redis' own clock so that replicas with skewed clocks agree. The key holds the
/// theoretical arrival time and expires when the allowance is whole again.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000 + math.floor(tonumber(now_parts[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', new_tat - now)
return 0
";

pub struct RedisLimiter {
    name: &'static str,
    interval_ms: u64,
    burst: u32,
    conn: ConnectionManager,
    script: Script,
}

impl RedisLimiter {
    pub fn new(name: &'static str, per_minute: NonZeroU32, conn: ConnectionManager) -> Self {
        Self {
            name,
            interval_ms: 60_000 / u64::from(per_minute.get()),
            burst: per_minute.get(),
            conn,
            script: Script::new(GCRA),
        }
    }

    /// Redis unreachable: the attempt is allowed (with a warning). Refusing every login while
    /// Redis is down would turn a cache outage into a full outage; `/readyz` reports it.
    pub async fn check(&self, key: &str) -> Result<(), RetryAfter> {
        let mut conn = self.conn.clone();
        let result: redis::RedisResult<u64> = self
            .script
            .key(format!("chat-suite:ratelimit:{}:{key}", self.name))
            .arg(self.interval_ms)
            .arg(self.burst)
            .invoke_async(&mut conn)
            .await;
        match result {
            Ok(0) => Ok(()),
            Ok(wait_ms) => Err(RetryAfter(Duration::from_millis(wait_ms))),
            Err(err) => {
                tracing::warn!(error = %err, limiter = self.name, "rate limiter unavailable, allowing");
                Ok(())
            }
        }
    }
}
