//! Whether the Redis broker's subscriptions are up, which presence reads so that nobody waits
//! on a Redis that is down.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

/// Whether the broker's subscriptions are all up, as the broker last found them (one on one
/// server, one per partition on a cluster).
#[derive(Debug, Clone)]
pub(crate) struct BrokerHealth {
    /// Subscriptions not up; all of them until each has come up once.
    down: Arc<AtomicUsize>,
}

impl BrokerHealth {
    pub(super) fn new(subscriptions: usize) -> Self {
        Self { down: Arc::new(AtomicUsize::new(subscriptions)) }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.down.load(Ordering::Relaxed) == 0
    }

    /// The part one subscription reports.
    pub(super) fn partition(&self) -> PartitionHealth {
        PartitionHealth { health: self.clone(), up: false }
    }
}

/// One subscription's part of [`BrokerHealth`]: counted down once when it comes up, up once
/// when it goes down.
pub(crate) struct PartitionHealth {
    health: BrokerHealth,
    up: bool,
}

impl PartitionHealth {
    pub(super) fn set(&mut self, up: bool) {
        if up != self.up {
            self.up = up;
            if up {
                self.health.down.fetch_sub(1, Ordering::Relaxed);
            } else {
                self.health.down.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
