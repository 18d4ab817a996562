//! Group commit. Every message is committed before anyone hears of it, and a commit waits for
//! the disk; one transaction per message makes the disk the limit (a few thousand commits a
//! second here, with the latency of a queue near that limit). So a replica's messages go
//! through its writer, which stores whatever arrived while its last commit was on its way, in
//! one statement: under load, many messages share one commit; when quiet, a message is stored
//! alone, at once. One writer per replica measured best: more split the same load into more,
//! smaller commits, and the commit is most of what a message costs the database.
//!
//! Messages of one chat always go to the same writer (should there be several), so they are
//! stored in the order this replica received them. How a batch is stored (resends, failures) is
//! [`messages::store`]'s.
//!
//! Overload is refused, not queued: a message that would join a full queue, or that waited
//! longer than [`MAX_WAIT`] for its batch, is not stored and its sender hears
//! [`ChatError::Overloaded`], so latency stays bounded and the client knows to slow down and
//! send again.

use std::{
    hash::{BuildHasher, BuildHasherDefault, DefaultHasher},
    sync::Arc,
    time::Duration,
};

use sea_orm::DatabaseConnection;
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use super::{
    durability::Durability,
    messages::{self, Draft, Sent},
};
use crate::{error::ChatError, metrics::GatewayMetrics};

/// Writers per replica. Batches on their way side by side (four at once, each starting as soon
/// as a slot was free, with no window) measured worse here: 1.3 messages per commit instead of
/// 3.5, Postgres's CPU per message at 2,000/s nearly doubled, and p50 up by a millisecond,
/// because commits that overlap did not share their flushes to this disk.
const WRITERS: usize = 1;
/// Most messages in one transaction.
const MAX_BATCH: usize = 256;
/// Messages waiting per writer.
const QUEUE: usize = MAX_BATCH * 16;
/// How long, under load, a batch stays open for the messages on their way after its first.
/// Every commit costs the database the same whatever it holds, so at a thousand messages a
/// second per replica one commit per message spends most of the database's CPU on commits;
/// waiting this long gathers a few per commit. A message that arrives when the writer has been
/// idle for longer goes at once.
const LINGER: Duration = Duration::from_millis(2);
/// The longest a message waits for its batch. Past it the writers are behind by more than a
/// person waits for a message to leave, and storing it late helps nobody.
pub const MAX_WAIT: Duration = Duration::from_secs(2);

/// What the writer answers for one message.
pub type Stored = Result<Sent, ChatError>;

/// What the writer runs with a message's answer, before the answer goes out: whoever must
/// hear of a stored message hears of it once it is committed, whether or not its sender is
/// still there to read the answer.
pub type OnCommit = Box<dyn FnOnce(&Stored) + Send>;

struct Job {
    draft: Draft,
    on_commit: OnCommit,
    /// When the connection read the message.
    read_at: Instant,
    reply: oneshot::Sender<Stored>,
}

#[derive(Clone)]
pub struct Writer {
    queues: Vec<mpsc::Sender<Job>>,
}

impl Writer {
    /// The writers, running until every handle to them is dropped.
    pub fn start(db: DatabaseConnection, durability: Durability, metrics: Arc<GatewayMetrics>) -> Self {
        let queues = (0..WRITERS)
            .map(|_| {
                let (queue, jobs) = mpsc::channel(QUEUE);
                tokio::spawn(write(db.clone(), durability, jobs, metrics.clone()));
                queue
            })
            .collect();
        Self { queues }
    }

    /// Queues the message (read at `read_at`) for storing, or finding the original of a
    /// resend, and returns where the answer comes; `on_commit` runs with the answer first.
    /// Never waits: two calls in a row are stored in that order, and a full queue is refused
    /// at once.
    pub fn submit(
        &self,
        draft: Draft,
        read_at: Instant,
        on_commit: OnCommit,
    ) -> Result<oneshot::Receiver<Stored>, ChatError> {
        let index = BuildHasherDefault::<DefaultHasher>::default().hash_one(draft.chat_id) as usize % self.queues.len();
        let (reply, answer) = oneshot::channel();
        self.queues[index].try_send(Job { draft, on_commit, read_at, reply }).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => ChatError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => ChatError::stopped(),
        })?;
        Ok(answer)
    }
}

async fn write(
    db: DatabaseConnection,
    durability: Durability,
    mut jobs: mpsc::Receiver<Job>,
    metrics: Arc<GatewayMetrics>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut idle_since = Instant::now();
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let first = batch[0].read_at;
        if first < idle_since + LINGER {
            gather(&mut jobs, &mut batch, first + LINGER).await;
        }
        store(&db, durability, std::mem::take(&mut batch), &metrics).await;
        idle_since = Instant::now();
    }
}

/// Adds to `batch` what arrives until `until` or until it is full.
async fn gather(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, until: Instant) {
    while batch.len() < MAX_BATCH {
        tokio::select! {
            received = jobs.recv_many(batch, MAX_BATCH - batch.len()) => if received == 0 { return },
            () = tokio::time::sleep_until(until) => return,
        }
    }
}

async fn store(db: &DatabaseConnection, durability: Durability, batch: Vec<Job>, metrics: &GatewayMetrics) {
    let (batch, late): (Vec<Job>, Vec<Job>) = batch.into_iter().partition(|job| job.read_at.elapsed() <= MAX_WAIT);
    for job in late {
        let refused = Err(ChatError::Overloaded);
        (job.on_commit)(&refused);
        let _ = job.reply.send(refused);
    }
    if batch.is_empty() {
        return;
    }
    let (drafts, jobs): (Vec<Draft>, Vec<_>) =
        batch.into_iter().map(|job| (job.draft, (job.read_at, job.on_commit, job.reply))).unzip();
    let answers = messages::store(db, &drafts, durability).await;
    metrics.batches_total.inc();
    for ((read_at, on_commit, reply), answer) in jobs.into_iter().zip(answers) {
        metrics.store_seconds.observe(read_at.elapsed().as_secs_f64());
        on_commit(&answer);
        let _ = reply.send(answer);
    }
}
