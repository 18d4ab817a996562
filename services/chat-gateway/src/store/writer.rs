//! Group commit. Every message is committed before anyone hears of it, and a commit waits for
//! the disk; one transaction per message makes the disk the limit (a few thousand commits a
//! second here, with the latency of a queue near that limit). So a replica's messages go
//! through a few writers, each storing whatever arrived while its last commit was on its way,
//! in one transaction: under load, many messages share one fsync; when quiet, a message is
//! stored alone, at once.
//!
//! Messages of one chat always go to the same writer, so they are stored in the order this
//! replica received them. A batch that fails (a resend racing its original, say) is stored
//! again message by message, so one bad message fails only itself.

use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};

use sea_orm::DatabaseConnection;
use tokio::sync::{mpsc, oneshot};

use super::messages::{self, Draft, Sent};
use crate::error::ChatError;

/// Writers per replica: enough to keep several commits in flight.
const WRITERS: usize = 4;
/// Most messages in one transaction.
const MAX_BATCH: usize = 64;

type Job = (Draft, oneshot::Sender<Result<Sent, ChatError>>);

#[derive(Clone)]
pub struct Writer {
    queues: Vec<mpsc::Sender<Job>>,
}

impl Writer {
    /// The writers, running until every handle to them is dropped.
    pub fn start(db: DatabaseConnection) -> Self {
        let queues = (0..WRITERS)
            .map(|_| {
                let (queue, jobs) = mpsc::channel(MAX_BATCH * 16);
                tokio::spawn(write(db.clone(), jobs));
                queue
            })
            .collect();
        Self { queues }
    }

    /// Stores the message (or finds the original of a resend).
    pub async fn send(&self, draft: Draft) -> Result<Sent, ChatError> {
        let index = BuildHasherDefault::<DefaultHasher>::default().hash_one(draft.chat_id) as usize % self.queues.len();
        let (reply, result) = oneshot::channel();
        let gone = || ChatError::Database(sea_orm::DbErr::Custom("the message writer stopped".into()));
        self.queues[index].send((draft, reply)).await.map_err(|_| gone())?;
        result.await.map_err(|_| gone())?
    }
}

async fn write(db: DatabaseConnection, mut jobs: mpsc::Receiver<Job>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        store(&db, std::mem::take(&mut batch)).await;
    }
}

async fn store(db: &DatabaseConnection, batch: Vec<Job>) {
    let (drafts, replies): (Vec<Draft>, Vec<_>) = batch.into_iter().unzip();
    // Resends are answered from what is stored (one query for the batch) and stay out of the
    // transaction.
    let originals = match messages::originals(db, &drafts).await {
        Ok(originals) => originals,
        Err(_) => return one_by_one(db, drafts, replies).await,
    };
    let (mut fresh, mut waiting) = (Vec::with_capacity(drafts.len()), Vec::with_capacity(drafts.len()));
    for (draft, reply) in drafts.into_iter().zip(replies) {
        match messages::original_of(&draft, &originals) {
            Ok(Some(original)) => {
                let _ = reply.send(Ok(Sent::Existing(original)));
            }
            Ok(None) => {
                fresh.push(draft);
                waiting.push(reply);
            }
            Err(err) => {
                let _ = reply.send(Err(err));
            }
        }
    }
    if fresh.is_empty() {
        return;
    }
    match messages::store_batch(db, &fresh).await {
        Ok(sent) => {
            for (reply, sent) in waiting.into_iter().zip(sent) {
                let _ = reply.send(Ok(sent));
            }
        }
        Err(err) => {
            tracing::debug!(error = %err, size = fresh.len(), "batch failed; storing its messages one by one");
            one_by_one(db, fresh, waiting).await;
        }
    }
}

/// Each message on its own, with its own answer (a racing resend finds its original).
async fn one_by_one(
    db: &DatabaseConnection,
    drafts: Vec<Draft>,
    replies: Vec<oneshot::Sender<Result<Sent, ChatError>>>,
) {
    for (draft, reply) in drafts.iter().zip(replies) {
        let _ = reply.send(messages::send(db, draft).await);
    }
}
