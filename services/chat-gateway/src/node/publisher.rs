//! The publishing side of the Redis broker: one queue and one task, which keeps this replica's
//! events in order and sends them in pipelined batches, one pipeline per partition (a cluster
//! pipeline must stay within one slot), the partitions at once. While Redis is away it
//! retries what failed, and only that (a partition already published is not sent twice);
//! what overflows the queue is dropped and counted (the messages are in the database:
//! receivers fill the gap when the next message of the chat or the resubscription arrives).

use std::sync::Arc;

use futures_util::future::join_all;
use shared::{redis_conn::RedisConn, server::Stopping};
use tokio::sync::mpsc;

use super::{
    partitions::Layout,
    retry::{MAX_WAIT, backoff},
    target::Target,
};
use crate::metrics::GatewayMetrics;

/// Events sent to Redis in one pipelined round trip (per partition).
const PUBLISH_BATCH: usize = 256;

/// An encoded event and the users and rooms it is for: one publish to each one's channel (a
/// room's message is one publish, whatever the number of its members).
pub(crate) type Outbound = (Vec<Target>, Arc<[u8]>);

pub(crate) async fn publish_loop(
    conn: RedisConn,
    layout: Layout,
    mut outgoing: mpsc::Receiver<Outbound>,
    metrics: Arc<GatewayMetrics>,
    mut stopping: Stopping,
) {
    let mut batch = Vec::with_capacity(PUBLISH_BATCH);
    loop {
        let received = tokio::select! {
            n = outgoing.recv_many(&mut batch, PUBLISH_BATCH) => n,
            () = stopping.wait() => return,
        };
        if received == 0 {
            return;
        }
        let sends = batch.iter().flat_map(|(targets, payload)| targets.iter().map(move |target| (*target, payload)));
        let mut pending: Vec<redis::Pipeline> = layout
            .group(sends, |(target, _)| *target)
            .into_iter()
            .map(|(_, sends)| {
                let mut pipe = redis::pipe();
                for (target, payload) in sends {
                    pipe.cmd(layout.publish_command()).arg(layout.channel(target)).arg(payload.as_ref()).ignore();
                }
                pipe
            })
            .collect();
        let mut waits = backoff();
        while !pending.is_empty() {
            let results = join_all(pending.iter().map(|pipe| {
                let mut conn = conn.clone();
                async move { pipe.query_async::<()>(&mut conn).await }
            }))
            .await;
            let (mut failed, mut failure) = (Vec::new(), None);
            for (pipe, result) in pending.into_iter().zip(results) {
                if let Err(err) = result {
                    failure.get_or_insert(err);
                    failed.push(pipe);
                }
            }
            pending = failed;
            if let Some(err) = failure {
                metrics.bus_publish_failures_total.inc();
                let wait = waits.next().unwrap_or(MAX_WAIT);
                tracing::warn!(error = %err, retry_in_ms = wait.as_millis() as u64, "cannot publish to Redis");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = stopping.wait() => return,
                }
            }
        }
        batch.clear();
    }
}
