//! Rate limits on `/login` and `/register`, per client address and per username. With Redis
//! configured the counters live there, so the limit holds however many replicas serve the
//! requests; without it they live in this process (one replica only).

mod memory;
mod redis;

use std::{num::NonZeroU32, time::Duration};

use shared::redis_conn::RedisConn;

pub use self::{memory::MemoryLimiter, redis::RedisLimiter};

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
}

/// The four limits auth-api enforces.
pub struct RateLimits {
    pub login_by_ip: Limiter,
    pub login_by_username: Limiter,
    pub register_by_ip: Limiter,
    pub register_by_username: Limiter,
}

impl RateLimits {
    pub fn new(per_ip: u32, per_username: u32, redis: Option<&RedisConn>) -> Self {
        Self {
            login_by_ip: Limiter::new("login:ip", per_ip, redis),
            login_by_username: Limiter::new("login:user", per_username, redis),
            register_by_ip: Limiter::new("register:ip", per_ip, redis),
            register_by_username: Limiter::new("register:user", per_username, redis),
        }
    }
}
