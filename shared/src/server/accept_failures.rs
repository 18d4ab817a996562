//! What the accept loop does while `accept` fails. Out of descriptors (EMFILE, ENFILE), every
//! retry fails at once until a connection closes: retrying every few milliseconds spins on a
//! core and, logging each failure, wrote thousands of lines a minute. So the wait doubles from
//! [`FIRST_WAIT`] to [`LONGEST_WAIT`] while failures follow each other, and the log speaks when
//! they start, every [`LOG_EVERY`] while they last, and when accepting works again.

use std::time::{Duration, Instant};

const FIRST_WAIT: Duration = Duration::from_millis(5);
const LONGEST_WAIT: Duration = Duration::from_secs(1);
const LOG_EVERY: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(super) struct AcceptFailures {
    /// Failures since the last accepted connection.
    run: u32,
    /// When the log last spoke of this run.
    logged: Option<Instant>,
}

impl AcceptFailures {
    /// Notes `err`, and how long to wait before accepting again.
    pub(super) fn failed(&mut self, err: &std::io::Error) -> Duration {
        self.run = self.run.saturating_add(1);
        if self.speaks(Instant::now()) {
            tracing::warn!(error = %err, failures = self.run, "accept failed; backing off until it works again");
        }
        wait_after(self.run)
    }

    /// Whether a failure at `now` is logged: the first of a run, then one a period.
    fn speaks(&mut self, now: Instant) -> bool {
        let speaks = self.logged.is_none_or(|at| now.duration_since(at) >= LOG_EVERY);
        if speaks {
            self.logged = Some(now);
        }
        speaks
    }

    /// A connection was accepted: the run of failures, if any, is over.
    pub(super) fn accepted(&mut self) {
        if self.run > 0 {
            tracing::info!(failures = self.run, "accepting connections again");
            *self = Self::default();
        }
    }
}

/// The wait after the `run`th failure in a row: doubling from the first, up to the longest.
fn wait_after(run: u32) -> Duration {
    let doublings = run.saturating_sub(1).min(16);
    FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_doubles_up_to_the_longest_and_starts_over_after_a_success() {
        let mut failures = AcceptFailures::default();
        let err = std::io::Error::from_raw_os_error(24);
        let waits: Vec<u128> = (0..10).map(|_| failures.failed(&err).as_millis()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(failures.failed(&err), LONGEST_WAIT, "a long run stays at the longest");
        failures.accepted();
        assert_eq!(failures.failed(&err), FIRST_WAIT);
    }

    #[test]
    fn the_log_speaks_at_the_start_of_a_run_then_once_a_period() {
        let mut failures = AcceptFailures::default();
        let start = Instant::now();
        let spoken: Vec<u64> =
            (0..3000u64).map(|ms| ms * 10).filter(|ms| failures.speaks(start + Duration::from_millis(*ms))).collect();
        assert_eq!(spoken, [0, 10_000, 20_000]);
    }
}
