//! Group commit, with commits that overlap. Every message is committed before anyone hears of
//! it, and a commit waits for the disk; one transaction per message makes the disk the limit.
//! So a replica's messages go through its writer, which stores whatever has arrived in one
//! statement, and does not wait for that commit before it starts the next: up to [`DEPTH`]
//! batches are on their way at once, each on its own connection, and Postgres flushes the
//! commits that arrive together with one write of its log (its own group commit). When quiet,
//! a message is stored alone, at once; under load, what arrives while every slot is busy
//! gathers into the next batch, so batches grow with the load and no window is waited for.
//!
//! Two promises hold across batches in flight. A message is answered, and told to anyone,
//! only after its commit, and batches are answered in the order they started. And a user is
//! in at most one batch in flight: a message any of whose members has one waits for it (and so
//! does every later message of those members), so each user's messages still commit in `id`
//! order and in the order this replica received them, and a batch that fails and is stored
//! again message by message cannot be overtaken by a later one of the same users.
//!
//! Overload is refused, not queued: a message that would join a full queue, or that waited
//! longer than [`MAX_WAIT`] for its batch, is not stored and its sender hears
//! [`ChatError::Overloaded`], so latency stays bounded and the client knows to slow down and
//! send again.

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
    time::Duration,
};

use futures_util::{StreamExt, stream::FuturesOrdered};
use sea_orm::{DatabaseBackend, DatabaseConnection};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};
use uuid::Uuid;

use super::{
    durability::Durability,
    messages::{self, Draft, Sent},
};
use crate::{error::ChatError, metrics::GatewayMetrics};

/// Batches on their way to Postgres at once. One made each message wait for the commit before
/// it; more than a few split the same load into more, smaller commits, each costing the
/// database the same. SQLite has one writer: there a batch waits for the one before.
const DEPTH: usize = 4;
/// Most messages in flight at once, in one batch or several: what one replica's writer may hold
/// of Postgres's lock table (README, "Scaling").
const MAX_BATCH: usize = 256;
/// Messages waiting for a batch.
const QUEUE: usize = MAX_BATCH * 16;
/// The longest a message waits for its batch. Past it the writer is behind by more than a
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
    queue: mpsc::Sender<Job>,
}

impl Writer {
    /// The writer, running until every handle to it is dropped.
    pub fn start(db: DatabaseConnection, durability: Durability, metrics: Arc<GatewayMetrics>) -> Self {
        let depth = if db.get_database_backend() == DatabaseBackend::Sqlite { 1 } else { DEPTH };
        let (queue, jobs) = mpsc::channel(QUEUE);
        tokio::spawn(write(Arc::new(Storing { db, durability, metrics }), jobs, depth));
        Self { queue }
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
        let (reply, answer) = oneshot::channel();
        self.queue.try_send(Job { draft, on_commit, read_at, reply }).map_err(|err| match err {
            mpsc::error::TrySendError::Full(_) => ChatError::Overloaded,
            mpsc::error::TrySendError::Closed(_) => ChatError::stopped(),
        })?;
        Ok(answer)
    }
}

/// What every batch is stored with.
struct Storing {
    db: DatabaseConnection,
    durability: Durability,
    metrics: Arc<GatewayMetrics>,
}

/// A batch on its way: its messages, who waits for each, and the users it holds.
struct Batch {
    drafts: Vec<Draft>,
    waiters: Vec<Waiter>,
    users: HashSet<Uuid>,
}

/// Who hears of one message's answer.
struct Waiter {
    on_commit: OnCommit,
    read_at: Instant,
    reply: oneshot::Sender<Stored>,
}

async fn write(storing: Arc<Storing>, mut jobs: mpsc::Receiver<Job>, depth: usize) {
    let mut waiting = Waiting::default();
    let mut in_flight = FuturesOrdered::new();
    let mut received = Vec::with_capacity(MAX_BATCH);
    let mut open = true;
    loop {
        while in_flight.len() < depth {
            let Some(batch) = waiting.next_batch() else { break };
            in_flight.push_back(store(storing.clone(), batch));
        }
        if !open && in_flight.is_empty() && waiting.jobs.is_empty() {
            return;
        }
        let room = open && in_flight.len() < depth && waiting.jobs.len() < QUEUE;
        tokio::select! {
            Some((batch, answers)) = in_flight.next(), if !in_flight.is_empty() => {
                waiting.release(&batch);
                answer(batch.waiters, answers, &storing.metrics);
            }
            count = jobs.recv_many(&mut received, MAX_BATCH), if room => {
                open = count > 0;
                waiting.jobs.extend(received.drain(..));
            }
            // Not reached: with nothing in flight, a waiting message is always free to go.
            else => return,
        }
    }
}

/// Messages received and not yet in a batch, in the order they came; the users of the
/// batches in flight, and how many messages those hold.
#[derive(Default)]
struct Waiting {
    jobs: VecDeque<Job>,
    busy: HashSet<Uuid>,
    flying: usize,
}

impl Waiting {
    /// The next batch: the waiting messages none of whose members is in a batch in flight, or
    /// behind a message left waiting, in order, up to [`MAX_BATCH`] in flight in all. A message
    /// that waited too long is refused on the way.
    fn next_batch(&mut self) -> Option<Batch> {
        let mut batch = Batch { drafts: Vec::new(), waiters: Vec::new(), users: HashSet::new() };
        let mut left = VecDeque::new();
        let mut behind: HashSet<Uuid> = HashSet::new();
        while let Some(job) = self.jobs.pop_front() {
            if self.flying + batch.drafts.len() == MAX_BATCH {
                self.jobs.push_front(job);
                break;
            }
            if job.read_at.elapsed() > MAX_WAIT {
                refuse(job);
                continue;
            }
            let members = &job.draft.members;
            if members.iter().any(|m| self.busy.contains(m) || behind.contains(m)) {
                behind.extend(members.iter().copied());
                left.push_back(job);
            } else {
                batch.users.extend(members.iter().copied());
                let Job { draft, on_commit, read_at, reply } = job;
                batch.drafts.push(draft);
                batch.waiters.push(Waiter { on_commit, read_at, reply });
            }
        }
        left.append(&mut self.jobs);
        self.jobs = left;
        if batch.drafts.is_empty() {
            return None;
        }
        self.busy.extend(batch.users.iter().copied());
        self.flying += batch.drafts.len();
        Some(batch)
    }

    fn release(&mut self, batch: &Batch) {
        for user in &batch.users {
            self.busy.remove(user);
        }
        self.flying -= batch.drafts.len();
    }
}

fn refuse(job: Job) {
    let refused = Err(ChatError::Overloaded);
    (job.on_commit)(&refused);
    let _ = job.reply.send(refused);
}

async fn store(storing: Arc<Storing>, batch: Batch) -> (Batch, Vec<Stored>) {
    let answers = messages::store(&storing.db, &batch.drafts, storing.durability).await;
    storing.metrics.batches_total.inc();
    (batch, answers)
}

/// Each message's answer, in the batch's order, once it is committed.
fn answer(waiters: Vec<Waiter>, answers: Vec<Stored>, metrics: &GatewayMetrics) {
    for (waiter, answer) in waiters.into_iter().zip(answers) {
        metrics.store_seconds.observe(waiter.read_at.elapsed().as_secs_f64());
        (waiter.on_commit)(&answer);
        let _ = waiter.reply.send(answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Content;

    /// A message among `members` (its sender first), read `age` ago; and where its answer comes.
    fn job(members: &[Uuid], age: Duration) -> (Job, oneshot::Receiver<Stored>) {
        let (reply, answer) = oneshot::channel();
        let draft = Draft {
            chat_id: Uuid::new_v4(),
            sender_id: members[0],
            sender_username: "sender".into(),
            kind: "text".into(),
            content: Content::parse("hello".into()).unwrap(),
            client_msg_id: None,
            reply_to: None,
            peer: None,
            members: members.to_vec(),
            offline: Vec::new(),
        };
        (Job { draft, on_commit: Box::new(|_| {}), read_at: Instant::now() - age, reply }, answer)
    }

    fn senders(batch: &Batch) -> Vec<Uuid> {
        batch.drafts.iter().map(|d| d.sender_id).collect()
    }

    #[test]
    fn a_user_with_a_batch_in_flight_waits_for_it_and_so_does_what_follows_them() {
        let [a, b, c, d, e, f] = [(); 6].map(|()| Uuid::new_v4());
        let mut waiting = Waiting::default();
        // One user twice in one batch is fine: the statement numbers them in order.
        waiting.jobs.extend([job(&[a, b], Duration::ZERO).0, job(&[a, c], Duration::ZERO).0]);
        let first = waiting.next_batch().unwrap();
        assert_eq!(senders(&first), [a, a]);

        // b is in flight; c is not, but c's message waits behind b's, which shares the chat.
        waiting.jobs.extend([job(&[b, c], Duration::ZERO).0, job(&[c, d], Duration::ZERO).0]);
        waiting.jobs.extend([job(&[e, f], Duration::ZERO).0, job(&[d, e], Duration::ZERO).0]);
        let second = waiting.next_batch().unwrap();
        assert_eq!(senders(&second), [e], "only e and f are free of the batch in flight and of what waits");
        assert!(waiting.next_batch().is_none(), "everything left waits for a batch in flight");

        waiting.release(&first);
        let third = waiting.next_batch().unwrap();
        assert_eq!(senders(&third), [b, c], "d's message waits for e, still in flight");
        waiting.release(&second);
        waiting.release(&third);
        assert_eq!(senders(&waiting.next_batch().unwrap()), [d]);
        assert!(waiting.jobs.is_empty());
    }

    #[test]
    fn batches_in_flight_hold_at_most_max_batch_and_the_rest_keeps_its_order() {
        let mut waiting = Waiting::default();
        let users: Vec<Uuid> = (0..MAX_BATCH + 10).map(|_| Uuid::new_v4()).collect();
        waiting.jobs.extend(users[..10].iter().map(|u| job(&[*u], Duration::ZERO).0));
        let first = waiting.next_batch().unwrap();
        waiting.jobs.extend(users[10..].iter().map(|u| job(&[*u], Duration::ZERO).0));
        assert_eq!(senders(&waiting.next_batch().unwrap()), users[10..MAX_BATCH]);
        assert!(waiting.next_batch().is_none(), "{MAX_BATCH} in flight");
        waiting.release(&first);
        assert_eq!(senders(&waiting.next_batch().unwrap()), users[MAX_BATCH..]);
    }

    #[tokio::test]
    async fn a_message_that_waited_too_long_is_refused_as_overloaded() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let mut waiting = Waiting::default();
        let (late, answer) = job(&[a], MAX_WAIT + Duration::from_millis(1));
        waiting.jobs.extend([late, job(&[b], Duration::ZERO).0]);
        assert_eq!(senders(&waiting.next_batch().unwrap()), [b]);
        assert!(matches!(answer.await, Ok(Err(ChatError::Overloaded))));
    }
}
