use std::{
    collections::HashMap,
    num::NonZeroU32,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use super::RetryAfter;

/// Keys kept before forgetting those whose allowance is whole again.
const PRUNE_FLOOR: usize = 10_000;

/// In-process GCRA, the algorithm of the Redis script (`redis.rs`) step for step: a burst of
/// `per_minute`, refilled evenly over the minute. Not governor's keyed limiter: a failed
/// login is counted before the password is checked and given back when it matched
/// ([`Self::refund`]), and governor can neither give an attempt back nor look without
/// counting.
pub struct MemoryLimiter {
    interval: Duration,
    burst: u32,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Per key, the theoretical arrival time: when the allowance is whole again.
    tats: HashMap<String, Instant>,
    /// The size past which the next check forgets whole allowances; doubled when most keys
    /// are in use, so a flood of keys costs one sweep per doubling, not one per request.
    prune_at: usize,
}

impl MemoryLimiter {
    pub fn new(per_minute: NonZeroU32) -> Self {
        Self {
            interval: Duration::from_secs(60) / per_minute.get(),
            burst: per_minute.get(),
            state: Mutex::new(State { tats: HashMap::new(), prune_at: PRUNE_FLOOR }),
        }
    }

    /// Counts one attempt for `key`, or refuses it (uncounted) with the wait.
    pub fn check(&self, key: &str) -> Result<(), RetryAfter> {
        let now = Instant::now();
        // A panic while holding the lock leaves a map of instants, valid whatever it did.
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.prune(now);
        let tat = state.tats.get(key).map_or(now, |&tat| tat.max(now));
        let new_tat = tat + self.interval;
        let ahead = new_tat.duration_since(now);
        let window = self.interval * self.burst;
        if ahead > window {
            return Err(RetryAfter(ahead - window));
        }
        state.tats.insert(key.to_owned(), new_tat);
        Ok(())
    }

    /// Gives back one attempt counted for `key`.
    pub fn refund(&self, key: &str) {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(tat) = state.tats.get(key).copied() else { return };
        match tat.checked_sub(self.interval) {
            Some(earlier) if earlier > now => {
                state.tats.insert(key.to_owned(), earlier);
            }
            _ => {
                state.tats.remove(key);
            }
        }
    }
}

impl State {
    fn prune(&mut self, now: Instant) {
        if self.tats.len() <= self.prune_at {
            return;
        }
        self.tats.retain(|_, tat| *tat > now);
        self.prune_at = (self.tats.len() * 2).max(PRUNE_FLOOR);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn limiter(per_minute: u32) -> MemoryLimiter {
        MemoryLimiter::new(NonZeroU32::new(per_minute).unwrap())
    }

    #[test]
    fn the_burst_is_allowed_then_refused_with_the_wait() {
        let limiter = limiter(3);
        for _ in 0..3 {
            assert!(limiter.check("k").is_ok());
        }
        let RetryAfter(wait) = limiter.check("k").unwrap_err();
        // One attempt comes back every 20 s at 3 a minute.
        assert!(wait > Duration::from_secs(19) && wait <= Duration::from_secs(20), "{wait:?}");
        // A refused attempt is not counted: the wait does not grow.
        let RetryAfter(again) = limiter.check("k").unwrap_err();
        assert!(again <= wait, "{again:?} > {wait:?}");
        assert!(limiter.check("other").is_ok());
    }

    #[test]
    fn a_refunded_attempt_can_be_made_again() {
        let limiter = limiter(2);
        limiter.check("k").unwrap();
        limiter.check("k").unwrap();
        limiter.refund("k");
        assert!(limiter.check("k").is_ok());
        assert!(limiter.check("k").is_err());
    }

    #[test]
    fn a_refund_never_gives_more_than_the_burst() {
        let limiter = limiter(2);
        limiter.check("k").unwrap();
        limiter.refund("k");
        limiter.refund("k");
        limiter.refund("never counted");
        limiter.check("k").unwrap();
        limiter.check("k").unwrap();
        assert!(limiter.check("k").is_err());
    }

    #[test]
    fn whole_allowances_are_forgotten_once_there_are_many_keys() {
        let limiter = limiter(100_000_000);
        for n in 0..=PRUNE_FLOOR {
            limiter.check(&n.to_string()).unwrap();
        }
        // 600 ns an attempt: every allowance above is whole again by now.
        std::thread::sleep(Duration::from_millis(1));
        limiter.check("last").unwrap();
        assert_eq!(limiter.state.lock().unwrap().tats.len(), 1);
    }
}
