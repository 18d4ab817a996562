//! The notifier fed by the outbox relay in the same process, for `chat-suite` with a provider
//! and no broker: each round of the relay's events is dispatched, and the relay marks them
//! published once their pushes are settled, as the consumer commits offsets.

use std::sync::Arc;

use futures_util::{FutureExt, future::BoxFuture};
use shared::outbox::relay::LocalConsumer;

use crate::dispatch::Dispatcher;

pub struct InProcess(pub(crate) Arc<Dispatcher>);

impl LocalConsumer for InProcess {
    fn consume(&self, values: Vec<serde_json::Value>) -> BoxFuture<'_, Result<(), String>> {
        async move {
            let events = values
                .iter()
                .filter_map(|value| {
                    let bytes = serde_json::to_vec(value).unwrap_or_default();
                    self.0.read(&bytes, || format!("outbox event {}", value["event_id"]))
                })
                .collect();
            self.0.dispatch(events).await.map_err(|e| e.to_string())
        }
        .boxed()
    }
}
