use std::num::NonZeroU32;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter, clock::Clock};

use super::RetryAfter;

/// In-process GCRA (governor): a burst of `per_minute`, refilled evenly over the minute.
pub struct MemoryLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl MemoryLimiter {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self { limiter: RateLimiter::keyed(Quota::per_minute(per_minute)) }
    }

    pub fn check(&self, key: &str) -> Result<(), RetryAfter> {
        // Forget keys whose allowance is whole again, so memory tracks active clients only.
        if self.limiter.len() > 10_000 {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(&key.to_owned())
            .map_err(|not_until| RetryAfter(not_until.wait_time_from(self.limiter.clock().now())))
    }
}
