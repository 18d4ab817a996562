//! The retry worker: sends again what waits in `push_deliveries` (pushes a provider asked to
//! retry, claims a dead replica left behind) when it is due, keeps the backlog gauge, and
//! prunes rows old enough that no redelivery could need them. Every replica runs one; the
//! claims share the work.

use std::{sync::Arc, time::Duration};

use chrono::Utc;
use shared::server::Stopping;

use crate::dispatch::Dispatcher;

/// Pushes claimed per round.
const BATCH: u64 = 500;
/// Rounds when nothing was due: a retry is at most this late.
const POLL: Duration = Duration::from_millis(500);
const STATS_EVERY: Duration = Duration::from_secs(5);
const PRUNE_EVERY: Duration = Duration::from_secs(600);

pub async fn run(dispatcher: Arc<Dispatcher>, mut stopping: Stopping) {
    let mut stats = tokio::time::interval(STATS_EVERY);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    loop {
        let idle = match dispatcher.deliveries.claim_due(BATCH).await {
            Ok(due) if due.is_empty() => true,
            Ok(due) => {
                if let Err(err) = dispatcher.redeliver(due).await {
                    // The claims' leases run out and they come round again.
                    tracing::warn!(error = %err, "settling retried pushes failed");
                }
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, "reading due pushes failed");
                true
            }
        };
        if !idle {
            continue;
        }
        tokio::select! {
            () = stopping.wait() => return,
            () = tokio::time::sleep(POLL) => {}
            _ = stats.tick() => match dispatcher.deliveries.backlog().await {
                Ok(backlog) => dispatcher.metrics.backlog.set(backlog),
                Err(err) => tracing::debug!(error = %err, "reading the retry backlog failed"),
            },
            _ = prune.tick() => {
                // Twice the TTL: events older than one TTL push nothing, so no redelivery
                // looks for these rows.
                let before = Utc::now() - chrono::Duration::from_std(dispatcher.ttl * 2).unwrap_or(chrono::Duration::days(2));
                match dispatcher.deliveries.prune(before).await {
                    Ok(0) => {}
                    Ok(pruned) => tracing::info!(pruned, "pruned settled pushes"),
                    Err(err) => tracing::warn!(error = %err, "pruning settled pushes failed"),
                }
            }
        }
    }
}
