//! A message too large for one frame (64 KiB: the textarea's `maxlength` stops a person, not
//! a script) fails where it was written, and the connection carries on. It used to be resent
//! after every reconnect, and the server closed every connection for it (1009), once a second
//! for as long as the page was open.

use serde_json::{Value, json};

use crate::{
    driver::{Chromedriver, errors_logged, open_chat_with, register, register_over_http, send, wait_for_texts},
    suite::Suite,
};

/// Counts the WebSockets the page opens from now on, in `window.socketsOpened`.
const COUNT_SOCKETS: &str = "window.socketsOpened = 0; \
    const Base = window.WebSocket; \
    window.WebSocket = class extends Base { \
      constructor(...args) { super(...args); window.socketsOpened += 1; } \
    };";

/// What the page says of it.
const TOO_LARGE: &str = "not sent: too large for one frame (64 KiB at most)";

#[tokio::test]
async fn a_message_over_the_frame_limit_fails_and_the_connection_stays() {
    let suite = Suite::start();
    let page = format!("{}/", suite.base);
    let (_, linus_token) = register_over_http(&suite.base, "linus").await;
    let driver = Chromedriver::start();
    let browser = driver.browser().await;
    register(&browser, &page, "ada").await;
    open_chat_with(&browser, "linus").await;
    wait_for_texts(&browser, "#connection", &["Connected."]).await;
    browser.execute(COUNT_SOCKETS, vec![]).await.unwrap();

    // 70,000 characters through the page's own form, past the textarea's maxlength.
    let submit = "document.getElementById('message').value = 'x'.repeat(70000); \
                  document.getElementById('send-form').requestSubmit();";
    browser.execute(submit, vec![]).await.unwrap();
    wait_for_texts(&browser, "#messages li[data-status=failed] .status", &[TOO_LARGE]).await;

    // The next message goes through on the same connection, and Linus gets it alone.
    send(&browser, "a short one").await;
    // Stored messages first, then those not (yet) stored.
    wait_for_texts(&browser, "#messages li.mine .status", &["sent", TOO_LARGE]).await;
    let sockets = browser.execute("return window.socketsOpened", vec![]).await.unwrap();
    assert_eq!(sockets, json!(0), "the page reconnected");
    wait_for_texts(&browser, "#connection", &["Connected."]).await;
    let contents: Vec<Value> = history(&suite.base, &linus_token).await;
    assert_eq!(contents, vec![json!("a short one")]);
    assert_eq!(errors_logged(&browser).await, Vec::<Value>::new());
    browser.close().await.unwrap();
}

/// socket.js as a client author copies it, told of a higher limit than the server's: the
/// server closes the connection (1009) for the frame, which then fails; the frame behind it
/// is written again after one reconnect and answered, and the big one is never written again.
#[tokio::test]
async fn a_frame_the_server_refused_as_too_large_fails_and_is_not_resent() {
    let suite = Suite::start();
    let page = format!("{}/", suite.base);
    let (linus, _) = register_over_http(&suite.base, "linus").await;
    let driver = Chromedriver::start();
    let browser = driver.browser().await;
    register(&browser, &page, "ada").await;

    let script = r#"
        const [linus, done] = arguments;
        const { Session } = await import("/web/session.js");
        const { ChatSocket } = await import("/web/socket.js");
        const socket = new ChatSocket(Session.restore(), { maxFrameBytes: Infinity });
        let connections = 0;
        socket.addEventListener("status", (e) => { if (e.detail.state === "connected") connections += 1; });
        const settled = (promise) => promise.then((data) => ({ ok: data }), (e) => ({ failed: e.code }));
        socket.connect();
        const { chat_id: chat } = await socket.request("start_private_chat", { user_id: linus });
        const big = settled(socket.sendMessage(chat, "x".repeat(70000)).stored);
        const small = settled(socket.sendMessage(chat, "after the big one").stored);
        const [bigResult, smallResult] = await Promise.all([big, small]);
        socket.close();
        done({ big: bigResult, small: smallResult.ok?.content ?? smallResult, connections });
    "#;
    let script = format!("(async () => {{ {script} }})().catch((e) => arguments[1]({{error: String(e)}}));");
    let outcome = browser.execute_async(&script, vec![json!(linus)]).await.unwrap();
    assert_eq!(outcome, json!({"big": {"failed": "frame_too_large"}, "small": "after the big one", "connections": 2}));
    browser.close().await.unwrap();
}

/// The contents of the one chat of the user with `token`, as the API holds them.
async fn history(base: &str, token: &str) -> Vec<Value> {
    let client = shared::http_client::builder().build().unwrap();
    let get = |path: String| client.get(format!("{base}{path}")).bearer_auth(token).send();
    let chats: Value = get("/chats".into()).await.unwrap().json().await.unwrap();
    let chat = chats["chats"][0]["chat_id"].as_str().unwrap();
    let page: Value = get(format!("/chats/{chat}/messages")).await.unwrap().json().await.unwrap();
    page["messages"].as_array().unwrap().iter().map(|m| m["content"].clone()).collect()
}
