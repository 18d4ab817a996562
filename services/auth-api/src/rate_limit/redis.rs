use std::{num::NonZeroU32, time::Duration};

use redis::Script;
use shared::redis_conn::RedisConn;

use super::RetryAfter;

/// GCRA in Redis, the same algorithm as the in-memory limiter, evaluated atomically in one
/// script with Redis' own clock so that replicas with skewed clocks agree. The key holds the
/// theoretical arrival time and expires when the allowance is whole again. Times are in
/// microseconds: in milliseconds a limit above 60,000 a minute has no interval at all (and
/// `PX 0` is an error), and limits in the tens of thousands round far off. The keys carry
/// `v2` since the change of unit: during a rolling update a replica still counting in
/// milliseconds would read a microsecond time as hours ahead and refuse every attempt.
const GCRA: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then
  return allow_at - now
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
return 0
";

/// Gives one attempt back (a failed-login allowance reserved for a login that succeeded):
/// the theoretical arrival time moves back one interval, and the key goes once it is past.
const REFUND: &str = r"
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local new_tat = tat - tonumber(ARGV[1])
if new_tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], new_tat, 'PX', math.max(1, math.ceil((new_tat - now) / 1000)))
end
return 0
";

const KEY_PREFIX: &str = "chat-suite:ratelimit:v2:";

pub struct RedisLimiter {
    name: &'static str,
    interval_us: u64,
    burst: u32,
    conn: RedisConn,
    script: Script,
    refund: Script,
}

impl RedisLimiter {
    pub fn new(name: &'static str, per_minute: NonZeroU32, conn: RedisConn) -> Self {
        Self {
            name,
            interval_us: (60_000_000 / u64::from(per_minute.get())).max(1),
            burst: per_minute.get(),
            conn,
            script: Script::new(GCRA),
            refund: Script::new(REFUND),
        }
    }

    /// Redis unreachable: the attempt is allowed (with a warning). Refusing every login while
    /// Redis is down would turn a cache outage into a full outage; `/readyz` reports it.
    pub async fn check(&self, key: &str) -> Result<(), RetryAfter> {
        match self.wait_us(key).await {
            Ok(0) => Ok(()),
            Ok(wait_us) => Err(RetryAfter(Duration::from_micros(wait_us))),
            Err(err) => {
                tracing::warn!(error = %err, limiter = self.name, "rate limiter unavailable, allowing");
                Ok(())
            }
        }
    }

    /// Gives back one attempt counted for `key`. Redis unreachable: the attempt stays counted
    /// (with a warning), which errs on the side of the limit.
    pub async fn refund(&self, key: &str) {
        let mut conn = self.conn.clone();
        let refunded: redis::RedisResult<i64> =
            self.refund.key(self.key(key)).arg(self.interval_us).invoke_async(&mut conn).await;
        if let Err(err) = refunded {
            tracing::warn!(error = %err, limiter = self.name, "rate limiter unavailable, attempt not given back");
        }
    }

    /// Microseconds until `key` may try again; 0: it may now, and this attempt is counted.
    async fn wait_us(&self, key: &str) -> redis::RedisResult<u64> {
        let mut conn = self.conn.clone();
        self.script.key(self.key(key)).arg(self.interval_us).arg(self.burst).invoke_async(&mut conn).await
    }

    fn key(&self, key: &str) -> String {
        format!("{KEY_PREFIX}{}:{key}", self.name)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use redis::AsyncCommands as _;

    use super::*;

    async fn limiter(per_minute: u32) -> (RedisLimiter, RedisConn, String) {
        let conn =
            shared::redis_conn::connect(&testkit::redis_url().parse::<shared::config::RedisUrl>().unwrap().into())
                .await
                .unwrap();
        let name = testkit::unique_name("test");
        let limiter = RedisLimiter::new("unit", NonZeroU32::new(per_minute).unwrap(), conn.clone());
        (limiter, conn, format!("{KEY_PREFIX}unit:{name}"))
    }

    /// A limit above 60,000 a minute made the script fail (`PX 0`), and the limiter fail open.
    /// The script's own answer is checked: `check` would hide its failure by allowing. (The
    /// key it writes lives a millisecond at this rate: too short to look at reliably.)
    #[tokio::test]
    async fn a_limit_above_one_a_millisecond_still_counts() {
        let (limiter, _conn, key) = limiter(100_000_000).await;
        let name = key.trim_start_matches(&format!("{KEY_PREFIX}unit:"));
        for _ in 0..3 {
            assert_eq!(limiter.wait_us(name).await.unwrap(), 0);
        }
    }

    /// Recorded under the v2 key, for as long as the allowance takes to come back whole.
    #[tokio::test]
    async fn an_attempt_is_recorded_until_the_allowance_is_whole_again() {
        let (limiter, mut conn, key) = limiter(6).await;
        let name = key.trim_start_matches(&format!("{KEY_PREFIX}unit:"));
        assert_eq!(limiter.wait_us(name).await.unwrap(), 0);
        let ttl_ms: i64 = conn.pttl(&key).await.unwrap();
        // One attempt of six a minute comes back after 10 s.
        assert!((9_000..=10_000).contains(&ttl_ms), "{ttl_ms}");
    }

    #[tokio::test]
    async fn the_burst_is_allowed_then_refused_with_the_wait() {
        let (limiter, _conn, key) = limiter(3).await;
        let name = key.trim_start_matches(&format!("{KEY_PREFIX}unit:"));
        for _ in 0..3 {
            assert!(limiter.check(name).await.is_ok());
        }
        let RetryAfter(wait) = limiter.check(name).await.unwrap_err();
        // One attempt comes back every 20 s at 3 a minute.
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
    }

    #[tokio::test]
    async fn a_refunded_attempt_can_be_made_again() {
        let (limiter, mut conn, key) = limiter(2).await;
        let name = key.trim_start_matches(&format!("{KEY_PREFIX}unit:"));
        assert_eq!(limiter.wait_us(name).await.unwrap(), 0);
        assert_eq!(limiter.wait_us(name).await.unwrap(), 0);
        limiter.refund(name).await;
        assert_eq!(limiter.wait_us(name).await.unwrap(), 0);
        assert!(limiter.wait_us(name).await.unwrap() > 0);
        // Both given back: nothing is left to remember.
        limiter.refund(name).await;
        limiter.refund(name).await;
        let exists: bool = conn.exists(&key).await.unwrap();
        assert!(!exists);
    }
}
