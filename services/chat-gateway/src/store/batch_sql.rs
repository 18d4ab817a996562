//! The batch statement: a whole batch of messages stored in one Postgres statement, which is
//! its own transaction unless pushes go with it ([`super::messages::store_batch`]). What it
//! takes is bound by `messages::numbered_insert`; the tests here hold its plan to what the
//! database must run a thousand times a second.

/// Locks before anything is numbered: the UPDATE reads `locked`, which takes every lock (in
/// the order of the arrays: `locks.rs`), and the INSERT (where ids are drawn, in the batch's
/// order) reads the UPDATE. A message's number is its chat's counter before the batch plus its
/// place. A block between the two of a private chat, or a peer whose account was deleted
/// (`refused`), stores nothing of the batch: no chat moves on, no row comes back, and the
/// batch is stored again message by message, each refusal found on its own. `refused` looks
/// each pair up by key, in scalar subqueries: written as `EXISTS`, the planner may hash them
/// instead, reading every row of `users` (or every deleted one) on every batch, which cost
/// more than the rest of the statement. Its arrays are read through subqueries so that the
/// planner cannot count them: a prepared statement is planned anew for its first runs, then
/// once for all if that generic plan costs no more than the plans made for each run; a plan
/// made for a run knows the batch's pairs (three, say) where a generic one guesses ten, and
/// with two lookups per pair the guess made the generic plan look dearer for ever, so every
/// run paid for planning the whole statement (a third of a millisecond, most of the database's
/// added cost per message). Counted the same way in both, the generic plan is taken.
///
/// With `MESSAGE_DURABILITY=async` (`durability`) the transaction's commit does not wait for
/// its flush: `set_config(…, true)` is `SET LOCAL`, which lasts until the transaction ends,
/// commit included, whether the statement is the transaction or the first of a longer one;
/// and a statement that wrote a row has read every relation of its join, `durability` among
/// them.
pub(super) const NUMBERED_INSERT: &str = "\
WITH durability AS MATERIALIZED (
    SELECT CASE WHEN $16 THEN set_config('synchronous_commit', 'off', true) END AS setting
),
refused AS MATERIALIZED (
    SELECT count(*) AS n FROM unnest((SELECT $14::uuid[]), (SELECT $15::uuid[])) AS p(sender, peer)
    WHERE (SELECT u.deleted_at FROM users u WHERE u.id = p.peer) IS NOT NULL
       OR (SELECT count(*) FROM user_blocks b WHERE (b.blocker_id = p.sender AND b.blocked_id = p.peer)
                                             OR (b.blocker_id = p.peer AND b.blocked_id = p.sender)) > 0
),
locked AS MATERIALIZED (
    SELECT count(CASE WHEN l.shared THEN pg_advisory_xact_lock_shared(l.class, l.key)
                      ELSE pg_advisory_xact_lock(l.class, l.key) END) AS n
    FROM unnest($1::int4[], $2::int4[], $3::bool[]) AS l(class, key, shared)
),
bumped AS (
    UPDATE chats SET last_seq = chats.last_seq + c.n, last_message_seq = chats.last_seq + c.n,
        last_activity_at = $12
    FROM unnest($4::uuid[], $5::int8[]) AS c(id, n), locked, refused, durability
    WHERE chats.id = c.id AND locked.n >= 0 AND refused.n = 0
    RETURNING chats.id, chats.last_seq - c.n AS before
)
INSERT INTO messages (chat_id, seq, sender_id, kind, content, client_msg_id, sent_at, reply_to)
SELECT d.chat_id, bumped.before + d.place, d.sender_id, d.kind, d.content, NULLIF(d.client_msg_id, ''), $12,
    NULLIF(d.reply_to, 0)
FROM unnest($6::uuid[], $7::int8[], $8::uuid[], $9::text[], $10::text[], $11::text[], $13::int8[])
    WITH ORDINALITY AS d(chat_id, place, sender_id, kind, content, client_msg_id, reply_to, ord)
JOIN bumped ON bumped.id = d.chat_id
ORDER BY d.ord
RETURNING *";

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    use testkit::{Backend, TestDatabase};
    use uuid::Uuid;

    use super::NUMBERED_INSERT;

    /// A hashed subplan reads its whole table on every run: `users` grows with every account
    /// ever made, deleted ones included. The batch statement's plan, generic as the prepared
    /// statement's is after its first runs, must look each pair up by key.
    #[tokio::test]
    async fn the_batch_statement_reads_no_table_whole() {
        let database = TestDatabase::create(Backend::Postgres).await;
        let db = database.connect().await;
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.unwrap();
        txn.execute_unprepared(&format!("PREPARE batch AS {NUMBERED_INSERT}")).await.unwrap();
        let plan = txn
            .query_all_raw(sea_orm::Statement::from_string(
                txn.get_database_backend(),
                "EXPLAIN EXECUTE batch('{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', now(), '{}', \
                 '{}', '{}', false)",
            ))
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get_by_index::<String>(0).unwrap())
            .collect::<Vec<_>>()
            .join("\n");
        for whole in ["hashed SubPlan", "Seq Scan on users"] {
            assert!(!plan.contains(whole), "{whole} in\n{plan}");
        }
        assert!(plan.contains("users_pkey"), "a deleted peer is looked up by key:\n{plan}");
    }

    /// After its first runs the statement keeps one generic plan: planned anew on every run,
    /// it cost the database more than running it. Batches of one to four messages between the
    /// two members of a chat, as under load (the chat is not there, so nothing is stored; the
    /// statement is planned and run all the same).
    #[tokio::test]
    async fn the_batch_statement_is_planned_once() {
        let database = TestDatabase::create(Backend::Postgres).await;
        let db = database.connect().await;
        let txn = db.begin().await.unwrap();
        txn.execute_unprepared(&format!("PREPARE batch AS {NUMBERED_INSERT}")).await.unwrap();
        let (chat, sender, peer) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let array = |values: Vec<String>, of: &str| format!("ARRAY[{}]::{of}[]", values.join(","));
        for n in [1, 3, 2, 4, 1, 3, 2, 4, 2, 3] {
            let each = |value: String| vec![value; n];
            let places = (1..=n).map(|place| place.to_string()).collect();
            let run = format!(
                "EXECUTE batch({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, now(), {}, {}, {}, false)",
                array(vec!["1".into(), "1".into()], "int4"),
                array(vec!["11".into(), "12".into()], "int4"),
                array(vec!["false".into(), "false".into()], "bool"),
                array(vec![format!("'{chat}'")], "uuid"),
                array(vec![n.to_string()], "int8"),
                array(each(format!("'{chat}'")), "uuid"),
                array(places, "int8"),
                array(each(format!("'{sender}'")), "uuid"),
                array(each("'text'".into()), "text"),
                array(each("'hello'".into()), "text"),
                array(each("''".into()), "text"),
                array(each("0".into()), "int8"),
                array(each(format!("'{sender}'")), "uuid"),
                array(each(format!("'{peer}'")), "uuid"),
            );
            txn.execute_unprepared(&run).await.unwrap();
        }
        let plans = txn
            .query_one_raw(sea_orm::Statement::from_string(
                txn.get_database_backend(),
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'batch'",
            ))
            .await
            .unwrap()
            .unwrap();
        let (generic, custom): (i64, i64) = (plans.try_get_by_index(0).unwrap(), plans.try_get_by_index(1).unwrap());
        assert!(generic >= 5, "{custom} runs planned each for itself, {generic} on the generic plan");
    }
}
