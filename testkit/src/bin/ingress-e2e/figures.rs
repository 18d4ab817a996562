//! What the clients saw, as timed events, and the figures of a stretch of the run (a phase)
//! read from them.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Mutex,
    time::{Duration, Instant},
};

#[derive(Debug, Clone)]
pub enum Event {
    /// An HTTP request answered as the client expected, after `retries` retries; `resent` when
    /// the proxy sent it to a second pod.
    Answered { retries: u32, resent: bool },
    /// One retry of a request, and why (`502`, `503`, `connection`…).
    Retried(String),
    /// A request that failed: no answer but 502/503/504 after its retries (`answered`
    /// false; counted as a request here), or an answer other than the one expected (already
    /// counted by its `Answered`).
    Failed { why: String, answered: bool },
    /// A socket the server or the proxy closed (its close code, or how it ended).
    SocketClosed(String),
    /// A socket opened through the proxy; `resent` when the proxy sent the upgrade to a second
    /// pod.
    Upgraded { resent: bool },
    /// A socket back (`connected` received) this long after it closed.
    Reconnected(Duration),
    /// A peer's message this long after the previous one, in one direction of one chat.
    Arrived(Duration),
    /// A message delivered again (its id seen before): dropped by the client, counted here.
    Redelivered,
    /// A message out of order, missing or stored twice: the stage fails.
    Violation(String),
}

#[derive(Default)]
pub struct Figures {
    events: Mutex<Vec<(Instant, Event)>>,
    /// The users whose registration a client saw succeed: each must reach Kafka.
    registered: Mutex<BTreeSet<String>>,
}

impl Figures {
    pub fn registered(&self, user_id: &str) {
        if let Ok(mut registered) = self.registered.lock() {
            registered.insert(user_id.to_owned());
        }
    }

    pub fn registered_users(&self) -> BTreeSet<String> {
        self.registered.lock().map(|r| r.clone()).unwrap_or_default()
    }

    pub fn record(&self, event: Event) {
        if let Ok(mut events) = self.events.lock() {
            events.push((Instant::now(), event));
        }
    }

    /// The figures of the events between `from` and `to`.
    pub fn between(&self, from: Instant, to: Instant) -> Summary {
        let mut s = Summary::default();
        let Ok(events) = self.events.lock() else { return s };
        for (_, event) in events.iter().filter(|(at, _)| *at >= from && *at < to) {
            match event {
                Event::Answered { retries, resent } => {
                    s.requests += 1;
                    s.requests_retried += u64::from(*retries > 0);
                    s.resent_by_proxy += u64::from(*resent);
                }
                Event::Retried(why) => *s.retries.entry(why.clone()).or_default() += 1,
                Event::Failed { why, answered } => {
                    s.requests += u64::from(!answered);
                    s.failures.push(why.clone());
                }
                Event::Upgraded { resent } => {
                    s.upgrades += 1;
                    s.upgrades_resent += u64::from(*resent);
                }
                Event::SocketClosed(code) => *s.closes.entry(code.clone()).or_default() += 1,
                Event::Reconnected(took) => {
                    s.reconnects += 1;
                    s.longest_reconnect = s.longest_reconnect.max(*took);
                }
                Event::Arrived(gap) => {
                    s.messages += 1;
                    s.longest_gap = s.longest_gap.max(*gap);
                }
                Event::Redelivered => s.redelivered += 1,
                Event::Violation(what) => s.violations.push(what.clone()),
            }
        }
        s
    }
}

#[derive(Debug, Default)]
pub struct Summary {
    pub requests: u64,
    pub requests_retried: u64,
    pub resent_by_proxy: u64,
    pub retries: BTreeMap<String, u64>,
    pub failures: Vec<String>,
    pub upgrades: u64,
    pub upgrades_resent: u64,
    pub closes: BTreeMap<String, u64>,
    pub reconnects: u64,
    pub longest_reconnect: Duration,
    pub messages: u64,
    pub longest_gap: Duration,
    pub redelivered: u64,
    pub violations: Vec<String>,
}

impl Summary {
    /// `502: 3, connection: 1`, or `none`.
    pub fn breakdown(map: &BTreeMap<String, u64>) -> String {
        if map.is_empty() {
            return "none".into();
        }
        map.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join(", ")
    }
}

pub fn millis(d: Duration) -> String {
    format!("{} ms", d.as_millis())
}
