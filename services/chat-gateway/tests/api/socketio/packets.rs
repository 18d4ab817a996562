//! What no official client sends: refused handshakes seen on the wire, garbage, oversized and
//! binary packets. Each ends its own connection only; the process and everyone else's sessions
//! go on.

use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::raw::RawSio;
use crate::helpers::{Backend, Bus, spawn};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_namespace_connection_says_which_code() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let user = suite.user("sio_refused").await;
    let cases = [
        (json!({}), "missing_token"),
        (json!({"token": "not-a-jwt"}), "invalid_token"),
        (json!({"token": user.token, "since": -1}), "invalid_field"),
        (json!({"token": user.token, "last_message_ids": "nonsense"}), "invalid_field"),
    ];
    for (auth, code) in cases {
        let mut raw = RawSio::open(&suite, 0).await;
        raw.send(format!("40/chat,{auth}")).await;
        let refused = raw.next_text().await.unwrap();
        assert_eq!(refused, format!("44/chat,{}", json!({"message": code})), "{auth}");
    }
    let mut raw = RawSio::open(&suite, 0).await;
    raw.send("40/elsewhere,".into()).await;
    assert!(raw.next_text().await.unwrap().starts_with("44/elsewhere,"));
}

/// Besides `auth.token`, the token may come as the `access_token` query parameter or in the
/// `Authorization` header of the Engine.IO request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_may_come_in_the_query_or_the_authorization_header() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let user = suite.user("sio_places").await;
    let port = suite.gateways[0].port;
    let base = format!("ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket");
    let in_query = format!("{base}&access_token={}", user.token).into_client_request().unwrap();
    let mut in_header = base.into_client_request().unwrap();
    in_header.headers_mut().insert("Authorization", format!("Bearer {}", user.token).parse().unwrap());
    for request in [in_query, in_header] {
        let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut raw = RawSio::open_with(tcp, request).await;
        raw.send("40/chat,".into()).await;
        assert!(raw.next_text().await.unwrap().starts_with("40/chat,{\"sid\""));
        assert_eq!(raw.next_of("connected").await["user_id"], user.id.as_str());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_oversized_and_binary_packets_end_only_their_own_connection() {
    let suite = spawn(Backend::Postgres, Bus::InProcess, 1).await;
    let (a, b) = (suite.user("sio_a").await, suite.user("sio_b").await);
    let mut a_sio = RawSio::connect(&suite, 0, &a).await;
    let mut b_sio = RawSio::connect(&suite, 0, &b).await;

    let mut garbage = RawSio::connect(&suite, 0, &a).await;
    garbage.send("42/chat,{not json".into()).await;
    assert!(garbage.closed().await);

    // Past one event's size (1 MB, as over long-polling) the connection ends; below it, an
    // event is refused with an error and the connection goes on.
    let mut long = RawSio::connect(&suite, 0, &b).await;
    long.emit_unchecked("typing", json!({"chat_id": "x".repeat(70 * 1024)})).await;
    assert_eq!(long.next_of("error").await["code"], "invalid_data");
    let mut oversized = RawSio::connect(&suite, 0, &b).await;
    oversized.emit_unchecked("typing", json!({"chat_id": "x".repeat(1_100_000)})).await;
    assert!(oversized.closed().await);

    let mut binary = RawSio::connect(&suite, 0, &a).await;
    binary.send(r#"451-/chat,["send_message",{"_placeholder":true,"num":0}]"#.into()).await;
    assert!(binary.closed().await);

    // Long-polling: a body over the limit is a 413 for that session alone.
    let base = format!("{}/socket.io/?EIO=4&transport=polling", suite.gateways[0].address);
    let open = suite.client.get(&base).send().await.unwrap().text().await.unwrap();
    let open: Value = serde_json::from_str(open.strip_prefix('0').unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap();
    let huge = "4".repeat(2_000_000);
    let answer = suite.client.post(format!("{base}&sid={sid}")).body(huge).send().await.unwrap();
    assert_eq!(answer.status().as_u16(), 413);

    // Everyone else is unaffected.
    a_sio.emit("start_private_chat", json!({"user_id": b.id})).await;
    let chat = a_sio.next_of("private_chat_room_created").await;
    assert_eq!(b_sio.next_of("private_chat_room_created").await, chat);
    a_sio.emit("send_message", json!({"chat_id": chat["chat_id"], "content": "still here"})).await;
    let received = b_sio.next_of("receive_message").await;
    assert_eq!((&received["content"], &received["sender_id"]), (&json!("still here"), &json!(a.id)));
}
