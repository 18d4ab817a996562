//! The notification events the suite relayed to Kafka while its pods rolled: every
//! registration a client saw succeed must be there, whichever auth-api pod took it and
//! whichever relayed it.

use std::{
    collections::BTreeSet,
    sync::Arc,
    time::{Duration, Instant},
};

use testkit::broker::{Broker, Reader};

/// The users of the `user.registered` events on `topic`, read until every one of `wanted` is
/// among them or `patience` runs out.
pub async fn registrations(
    broker: &Broker,
    topic: &str,
    wanted: &BTreeSet<String>,
    patience: Duration,
) -> BTreeSet<String> {
    let reader = Arc::new(Reader::new(broker, topic));
    let deadline = Instant::now() + patience;
    let mut seen = BTreeSet::new();
    while !wanted.is_subset(&seen) && Instant::now() < deadline {
        for record in reader.read_async(usize::MAX, Duration::from_secs(1)).await {
            if record.value["event_type"] == "user.registered"
                && let Some(user) = record.value["user_id"].as_str()
            {
                seen.insert(user.to_owned());
            }
        }
    }
    seen
}
