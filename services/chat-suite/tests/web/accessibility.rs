//! The page against WCAG 2.1 AA, as axe-core checks it: no serious or critical violation in
//! the signed-out view (with an error showing), in a chat with messages, in the form that makes
//! a group or in a group with its members showing, in the light scheme and the dark one, on a
//! wide window and a phone's.
//!
//! axe-core comes from npm, pinned by `testkit/axe/package-lock.json`; `scripts/test` installs
//! it into the cache once (`ensure_axe` in scripts/lib/services.sh) and sets `AXE_CORE`.

use std::path::PathBuf;

use fantoccini::Client;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::{
    driver::{
        Cdp, Chromedriver, click, fill, open_chat_with, register, register_over_http, send, wait_for_script,
        wait_for_texts,
    },
    suite::Suite,
};

const TAGS: [&str; 4] = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];
const SCHEMES: [&str; 2] = ["light", "dark"];
/// A laptop's window and a phone's (the layout is one column below 48rem).
const SIZES: [(u32, u32); 2] = [(1200, 900), (390, 844)];

#[tokio::test]
async fn the_page_has_no_serious_accessibility_violations_in_either_scheme() {
    let axe = std::fs::read_to_string(axe_path()).unwrap();
    let suite = Suite::start();
    let page = format!("{}/", suite.base);
    let (_, linus_token) = register_over_http(&suite.base, "linus").await;
    let driver = Chromedriver::start();
    let browser = driver.browser().await;
    let mut found = Vec::new();

    // Signed out, after a failed login: the error line shows.
    browser.goto(&page).await.unwrap();
    fill(&browser, "#login-username", "nobody").await;
    fill(&browser, "#login-password", "not the password\u{E007}").await;
    wait_for_texts(&browser, "#auth-error", &["invalid username or password"]).await;
    found.extend(check_everywhere(&browser, &axe, "signed out").await);

    // A chat with a message each way, one of them failed, the peer online.
    register(&browser, &page, "ada").await;
    open_chat_with(&browser, "linus").await;
    send(&browser, "hello linus").await;
    let oversized = "document.getElementById('message').value = 'x'.repeat(70000); \
                     document.getElementById('send-form').requestSubmit();";
    browser.execute(oversized, vec![]).await.unwrap();
    let linus = say_as(&suite.base, &linus_token, "hello ada").await;
    wait_for_texts(&browser, "#messages .content", &["hello linus", "hello ada", &"x".repeat(70000)]).await;
    let statuses = ["sent", "not sent: too large for one frame (64 KiB at most)"];
    wait_for_texts(&browser, "#messages li.mine .status", &statuses).await;
    wait_for_texts(&browser, "#peer-presence", &["online"]).await;
    found.extend(check_everywhere(&browser, &axe, "a chat").await);

    // The form that makes a group, Linus picked (by his name and Enter); then the group, its
    // members and settings showing, with a message. At the phone's size, as the check left it.
    click(&browser, "#new-group summary").await;
    fill(&browser, "#group-title", "Team").await;
    fill(&browser, "#group-find", "linus\u{E007}").await;
    wait_for_texts(&browser, "#group-picked .member-name", &["linus"]).await;
    found.extend(check_everywhere(&browser, &axe, "the new group's form").await);
    click(&browser, "#create-group").await;
    wait_for_texts(&browser, "#peer-name", &["Team"]).await;
    click(&browser, "#group-panel summary").await;
    wait_for_texts(&browser, "#members .member-name", &["ada", "linus"]).await;
    send(&browser, "hello team").await;
    wait_for_texts(&browser, "#messages li.mine .status", &["sent"]).await;
    found.extend(check_everywhere(&browser, &axe, "a group").await);
    drop(linus);

    assert!(found.is_empty(), "serious or critical violations:\n{}", serde_json::to_string_pretty(&found).unwrap());
    browser.close().await.unwrap();
}

/// axe's serious and critical violations of the page as it is, in every scheme and size.
async fn check_everywhere(browser: &Client, axe: &str, view: &str) -> Vec<Value> {
    let mut found = Vec::new();
    for (width, height) in SIZES {
        browser.set_window_size(width, height).await.unwrap();
        for scheme in SCHEMES {
            let features = json!([{"name": "prefers-color-scheme", "value": scheme}]);
            browser
                .issue_cmd(Cdp { cmd: "Emulation.setEmulatedMedia", params: json!({"features": features}) })
                .await
                .unwrap();
            let matches = format!("return matchMedia('(prefers-color-scheme: {scheme})').matches");
            wait_for_script(browser, "the colour scheme", &matches, vec![], json!(true)).await;
            let window = format!("{width}x{height}");
            for violation in violations(browser, axe).await {
                found.push(json!({"view": view, "scheme": scheme, "window": window, "violation": violation}));
            }
        }
    }
    found
}

/// Runs axe-core (injected once per page load) with the WCAG 2.x A and AA rules.
async fn violations(browser: &Client, axe: &str) -> Vec<Value> {
    let loaded = browser.execute("return typeof window.axe", vec![]).await.unwrap();
    if loaded != json!("object") {
        browser.execute(&format!("{axe}\n;return typeof window.axe;"), vec![]).await.unwrap();
    }
    let run = r#"
        const [tags, done] = arguments;
        axe.run(document, { runOnly: { type: "tag", values: tags }, resultTypes: ["violations"] })
          .then((result) => done(result.violations
            .filter((v) => v.impact === "serious" || v.impact === "critical")
            .map((v) => ({ id: v.id, impact: v.impact, help: v.help,
                           nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary}`) }))))
          .catch((e) => done([{ error: String(e) }]));
    "#;
    let result = browser.execute_async(run, vec![json!(TAGS)]).await.unwrap();
    result.as_array().unwrap().clone()
}

/// Linus connects to `/chat`, sends `text` in his one chat, and stays connected (online) while
/// the returned socket lives.
async fn say_as(
    base: &str,
    token: &str,
    text: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let client = shared::http_client::builder().build().unwrap();
    let chats: Value =
        client.get(format!("{base}/chats")).bearer_auth(token).send().await.unwrap().json().await.unwrap();
    let chat = chats["chats"][0]["chat_id"].clone();
    let url = format!("{}/chat?access_token={token}", base.replace("http://", "ws://"));
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let frame = json!({"event": "send_message", "data": {"chat_id": chat, "content": text}, "id": "1"});
    socket.send(Message::text(frame.to_string())).await.unwrap();
    while let Some(frame) = socket.next().await {
        let Message::Text(frame) = frame.unwrap() else { continue };
        let frame: Value = serde_json::from_str(&frame).unwrap();
        if frame["id"] == "1" {
            assert_eq!(frame["event"], "receive_message", "{frame}");
            return socket;
        }
    }
    panic!("the connection closed before the message was stored");
}

/// `AXE_CORE`, or where `scripts/test` installs it, so that a plain `cargo test` after one
/// `scripts/test` finds it.
fn axe_path() -> PathBuf {
    if let Some(path) = std::env::var_os("AXE_CORE") {
        return path.into();
    }
    let cache = std::env::var_os("CHAT_SUITE_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/chat-suite"),
        PathBuf::from,
    );
    let path = cache.join("axe/node_modules/axe-core/axe.min.js");
    assert!(
        path.is_file(),
        "axe-core is not installed (AXE_CORE is not set, and {} does not exist): run the tests through \
         scripts/test, which installs it, or `bash -c 'source scripts/lib/services.sh; ensure_axe'` once",
        path.display()
    );
    path
}
