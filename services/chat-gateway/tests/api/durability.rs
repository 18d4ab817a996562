//! `MESSAGE_DURABILITY`: whether a message's commit waits for its write to the log. Seen in
//! what Postgres counts (`pg_stat_wal.wal_write`: a commit that waits writes the log itself,
//! an asynchronous one leaves it to the WAL writer, which writes many at once), on a Postgres
//! of the test's own: the machine's counts every other test's commits too.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use testkit::postgres_pair::PostgresPair;

use crate::helpers::{Bus, ROOMY, TestDatabase, spawn_on};

/// Messages sent in each half: to a peer connected, then to one away (whose message takes the
/// transaction with its push event).
const MESSAGES: usize = 100;

/// The log writes Postgres counted while a gateway of `mode` started, stored `MESSAGES`
/// messages to a connected peer and as many to an away one (each sent once the one before was
/// answered), and stopped.
async fn log_writes_while_sending(pair: &PostgresPair, database: &Arc<TestDatabase>, mode: &str) -> u64 {
    let before = log_writes(pair);
    let durability = format!("--message-durability={mode}");
    let mut args = ROOMY.to_vec();
    args.push(&durability);
    let suite = spawn_on(database.clone(), Bus::InProcess, 1, &args).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let (mut a, mut b) = (suite.connect(0, &alice).await, suite.connect(0, &bob).await);
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let mut send = async |n: usize| {
        let reply = a.request("send_message", json!({"chat_id": chat_id, "content": format!("m{n}")}), json!(n)).await;
        assert_eq!(reply["event"], "receive_message", "{reply}");
    };
    for n in 0..MESSAGES {
        send(n).await;
    }
    b.close().await;
    while suite.metric(0, "chat_suite_ws_connections").await > 1.0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in MESSAGES..2 * MESSAGES {
        send(n).await;
    }
    assert_eq!(suite.metric(0, "chat_suite_ws_offline_pushes_total").await, MESSAGES as f64, "{mode}");
    drop(suite);
    // A backend tells the statistics what it wrote when it ends (or after 10 s idle).
    let gone = "SELECT count(*) FROM pg_stat_activity WHERE datname = 'app'";
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while pair.primary_sql("postgres", gone).trim() != "0" && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    log_writes(pair) - before
}

fn log_writes(pair: &PostgresPair) -> u64 {
    pair.primary_sql("postgres", "SELECT wal_write FROM pg_stat_wal").trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_durability_leaves_the_log_writes_to_postgres() {
    let pair = tokio::task::spawn_blocking(PostgresPair::start).await.unwrap();
    // The test's server commits asynchronously to be quick; the database of this test as
    // Postgres does by default.
    pair.primary_sql("postgres", "ALTER DATABASE app SET synchronous_commit = on");
    let database = Arc::new(TestDatabase::on_server(pair.primary.url("app")).await);

    let waited = log_writes_while_sending(&pair, &database, "sync").await;
    let left = log_writes_while_sending(&pair, &database, "async").await;
    assert!(waited >= 2 * MESSAGES as u64, "sync: each commit writes the log itself ({waited} writes)");
    assert!(
        left * 2 < waited,
        "async: the messages' commits left the writes to the WAL writer ({left} writes against {waited})"
    );
}
