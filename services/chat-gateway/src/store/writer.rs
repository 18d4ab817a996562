//! Group commit. Every message is committed before anyone hears of it, and a commit waits for
//! the disk; one transaction per message makes the disk the limit (a few thousand commits a
//! second here, with the latency of a queue near that limit). So a replica's messages go
//! through a few writers, each storing whatever arrived while its last commit was on its way,
//! in one transaction: under load, many messages share one fsync; when quiet, a message is
//! stored alone, at once.
//!
//! Messages of one chat always go to the same writer, so they are stored in the order this
//! replica received them. How a batch is stored (resends, failures) is
//! [`messages::store`]'s.

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
    for (reply, answer) in replies.into_iter().zip(messages::store(db, &drafts).await) {
        let _ = reply.send(answer);
    }
}
