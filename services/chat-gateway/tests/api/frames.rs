//! What a client sends that it should not: oversized, garbage, binary, too fast. Errors are
//! events and the connection survives them, except where the limits say it ends.

use serde_json::json;
use tokio_tungstenite::tungstenite::protocol::frame::{
    Frame,
    coding::{Data, OpCode},
};

use crate::helpers::{Backend, Bus, WsMessage, code, spawn, spawn_with};

/// Every kind of garbage gets an `error` event (with the frame's id when it had a readable
/// one), and the connection goes on working afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_get_error_events_and_the_connection_survives() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let cases: Vec<(&str, &str)> = vec![
        ("not json at all", "invalid_frame"),
        ("[1, 2, 3]", "invalid_frame"),
        (r#"{"event": 5}"#, "invalid_frame"),
        (r#"{"event": "send_message", "data": {}, "extra": 1}"#, "invalid_frame"),
        (r#"{"event": "dance", "data": {}}"#, "unknown_event"),
        (r#"{"event": "send_message", "data": {"chat_id": "nope", "content": "x"}}"#, "invalid_data"),
        (r#"{"event": "send_message", "data": {"chat_id": 1, "content": 2}}"#, "invalid_data"),
        (
            r#"{"event": "start_private_chat", "data": {"user_id": "00000000-0000-0000-0000-000000000000"}}"#,
            "not_found",
        ),
        (r#"{"event": "typing", "data": {"chat_id": "00000000-0000-0000-0000-000000000000"}}"#, "forbidden"),
        (r#"{"event": "receive_message", "data": {"chat_id": "x", "message_id": "y"}}"#, "invalid_data"),
        (r#"{"event": "send_message", "data": null}"#, "invalid_data"),
        (r#"{"event": "refresh_token", "data": {"access_token": "garbage"}}"#, "invalid_token"),
    ];
    for (frame, expected) in cases {
        a.send_raw(WsMessage::text(frame)).await;
        let reply = a.next_of("error").await;
        assert_eq!(reply["data"]["code"], expected, "{frame} -> {reply}");
        assert!(!reply["data"]["message"].as_str().unwrap().is_empty());
    }
    // The id comes back when it could be read.
    a.send_raw(WsMessage::text(r#"{"event": "dance", "id": "x1"}"#)).await;
    let reply = a.next_of("error").await;
    assert_eq!(reply["id"], "x1");
    // Text the database cannot store, or too much of it.
    let nul = a.request("send_message", json!({"chat_id": chat_id, "content": "a\u{0}b"}), json!(1)).await;
    assert_eq!(nul["data"]["code"], "invalid_data");
    let long = a.request("send_message", json!({"chat_id": chat_id, "content": "x".repeat(4001)}), json!(2)).await;
    assert_eq!(long["data"]["code"], "content_too_long");
    let longest = a.request("send_message", json!({"chat_id": chat_id, "content": "é".repeat(4000)}), json!(3)).await;
    assert_eq!(longest["event"], "receive_message", "4,000 characters is allowed");
    // Binary frames are not part of the protocol.
    a.send_raw(WsMessage::binary(vec![0u8, 159, 146, 150])).await;
    assert_eq!(a.next_of("error").await["data"]["code"], "binary_not_supported");

    let ok = a.request("send_message", json!({"chat_id": chat_id, "content": "still here"}), json!(4)).await;
    assert_eq!(ok["event"], "receive_message", "{ok}");
    assert_eq!(b.messages(2).await[1]["content"], "still here");
}

/// A frame over 64 KiB closes the connection with 1009; nothing of it is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_frame_closes_with_1009() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let (alice, bob) = (suite.user("alice").await, suite.user("bob").await);
    let mut a = suite.connect(0, &alice).await;
    let mut b = suite.connect(0, &bob).await;
    let chat_id = suite.chat(&mut a, &bob, &mut b).await;
    let huge = json!({"event": "send_message", "data": {"chat_id": chat_id, "content": "x".repeat(70 * 1024)}});
    a.send_raw(WsMessage::text(huge.to_string())).await;
    assert_eq!(code(&a.closed().await), Some(1009));
    let history = suite.get(0, &format!("/chats/{chat_id}/messages"), Some(&bob.token)).await;
    assert_eq!(history.body["messages"], json!([]));
}

/// Over the rate limit a frame gets `rate_limited`; a client that keeps going past a burst's
/// worth of refusals is disconnected with 1008.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_gets_rate_limited_then_cut_off() {
    let args = ["--ws-rate-limit-per-second=1", "--ws-rate-limit-burst=5"];
    let suite = spawn_with(Backend::Postgres, Bus::Redis, 1, &args).await;
    let alice = suite.user("alice").await;
    let mut a = suite.connect(0, &alice).await;
    for i in 0..5 {
        let reply = a.request("dance", json!({}), json!(i)).await;
        assert_eq!(reply["data"]["code"], "unknown_event", "within the burst: {reply}");
    }
    let limited = a.request("dance", json!({}), json!("over")).await;
    assert_eq!(limited["data"]["code"], "rate_limited", "{limited}");
    for _ in 0..10 {
        a.send("dance", json!({})).await;
    }
    assert_eq!(code(&a.closed().await), Some(1008));
}

/// Binary frames count against the rate limit like text frames: a flood of them is cut off
/// with 1008 too, not answered for ever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_binary_flood_is_rate_limited_then_cut_off() {
    let args = ["--ws-rate-limit-per-second=1", "--ws-rate-limit-burst=5"];
    let suite = spawn_with(Backend::Postgres, Bus::Redis, 1, &args).await;
    let alice = suite.user("alice").await;
    let mut a = suite.connect(0, &alice).await;
    for _ in 0..5 {
        a.send_raw(WsMessage::binary(vec![1u8, 2, 3])).await;
        assert_eq!(a.next_of("error").await["data"]["code"], "binary_not_supported");
    }
    a.send_raw(WsMessage::binary(vec![1u8, 2, 3])).await;
    assert_eq!(a.next_of("error").await["data"]["code"], "rate_limited");
    for _ in 0..10 {
        a.send_raw(WsMessage::binary(vec![1u8, 2, 3])).await;
    }
    assert_eq!(code(&a.closed().await), Some(1008));
}

/// A text frame that is not UTF-8 ends the connection with 1007, as RFC 6455 says.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_frame_that_is_not_utf8_closes_with_1007() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let alice = suite.user("alice").await;
    let mut a = suite.connect(0, &alice).await;
    a.send_raw(WsMessage::Frame(Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true))).await;
    assert_eq!(code(&a.closed().await), Some(1007));
}

/// A message sent in fragments that add up to more than 64 KiB closes with 1009, like one
/// frame that large.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fragmented_message_over_64_kib_closes_with_1009() {
    let suite = spawn(Backend::Postgres, Bus::Redis, 1).await;
    let alice = suite.user("alice").await;
    let mut a = suite.connect(0, &alice).await;
    // A client that goes on sending after the limit (1 MiB in 16 KiB fragments) must still
    // read the close frame, not a reset connection (a CI run once saw the reset: the server
    // dropped the socket with the rest of the message unread). The pause lets the server
    // close before the rest is sent, which is when the reset happened.
    let part = vec![b'x'; 16 * 1024];
    a.send_raw(WsMessage::Frame(Frame::message(part.clone(), OpCode::Data(Data::Text), false))).await;
    for i in 1..64 {
        if i == 8 {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        }
        a.send_raw(WsMessage::Frame(Frame::message(part.clone(), OpCode::Data(Data::Continue), i == 63))).await;
    }
    assert_eq!(code(&a.closed().await), Some(1009));
}
