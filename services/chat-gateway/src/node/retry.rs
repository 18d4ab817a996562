//! How the broker waits before trying Redis again: from 100 ms, doubling, up to 5 s, with
//! jitter so that replicas that lost Redis together do not come back in step.

use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};

pub(crate) fn backoff() -> impl Iterator<Item = Duration> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(MAX_WAIT)
        .with_jitter()
        .without_max_times()
        .build()
}

/// The longest wait (and what is waited once the backoff runs out, which it does not).
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(5);
