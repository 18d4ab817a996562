//! Rate limits on `/login` and `/register` (which attempts count where: `policy.rs`). With
//! Redis configured the counters live there, so the limit holds however many replicas serve
//! the requests; without it they live in this process (one replica only).

mod memory;
mod policy;
mod redis;

use std::{num::NonZeroU32, time::Duration};

use shared::redis_conn::RedisConn;

pub use self::{
    memory::MemoryLimiter,
    policy::{LOGIN_RATE_LIMITED, PerMinute, REGISTER_RATE_LIMITED, RateLimits},
    redis::RedisLimiter,
};

/// The wait before the next attempt is allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryAfter(pub Duration);

/// One limit (a name and so many attempts per minute) keyed by whatever the caller passes.
pub enum Limiter {
    Off,
    Memory(MemoryLimiter),
    Redis(RedisLimiter),
}

impl Limiter {
    pub fn new(name: &'static str, per_minute: u32, redis: Option<&RedisConn>) -> Self {
        let Some(per_minute) = NonZeroU32::new(per_minute) else {
            return Self::Off;
        };
        match redis {
            Some(conn) => Self::Redis(RedisLimiter::new(name, per_minute, conn.clone())),
            None => Self::Memory(MemoryLimiter::new(per_minute)),
        }
    }

    /// Counts one attempt for `key`; refuses it when the allowance is used up.
    pub async fn check(&self, key: &str) -> Result<(), RetryAfter> {
        match self {
            Self::Off => Ok(()),
            Self::Memory(limiter) => limiter.check(key),
            Self::Redis(limiter) => limiter.check(key).await,
        }
    }

    /// Gives back one attempt counted for `key` (one that turned out not to be what the
    /// limit counts).
    pub async fn refund(&self, key: &str) {
        match self {
            Self::Off => {}
            Self::Memory(limiter) => limiter.refund(key),
            Self::Redis(limiter) => limiter.refund(key).await,
        }
    }
}
