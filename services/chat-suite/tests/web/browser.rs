//! The page in a real browser: Debian's chromium, driven through chromedriver (WebDriver).
//! Two people register in two browsers of their own, find each other by name, see each other
//! online, chat both ways, see their messages delivered and read, find the history and its
//! marks again after a reload, and lose nothing when the server restarts under them.

use serde_json::{Value, json};

use crate::{
    driver::{
        Chromedriver, click, count, errors_logged, fill, open_chat_with, register, send, wait_for_script,
        wait_for_texts,
    },
    suite::Suite,
};

#[tokio::test]
async fn two_people_find_each_other_and_chat_in_their_browsers() {
    let mut suite = Suite::start();
    let page = format!("{}/", suite.base);
    let driver = Chromedriver::start();
    let ada = driver.browser().await;
    let grace = driver.browser().await;

    register(&ada, &page, "ada").await;
    register(&grace, &page, "grace").await;

    // Ada finds Grace by the start of her name and opens their chat. Both were connected
    // before the chat existed, and both see the other online at once (no reconnect needed).
    fill(&ada, "#find", "GRA").await;
    wait_for_texts(&ada, "#found button", &["Chat with grace"]).await;
    click(&ada, "#found button").await;
    wait_for_texts(&ada, "#peer-name", &["grace"]).await;
    wait_for_texts(&ada, "#peer-presence", &["online"]).await;
    wait_for_texts(&grace, "#chats .name", &["ada"]).await;
    wait_for_texts(&grace, "#chats .presence", &["online"]).await;

    // Grace's page has the chat but not open: the message is delivered, not seen, and a
    // reload shows it so.
    send(&ada, "hello grace").await;
    wait_for_texts(&ada, "#messages li.mine .status", &["delivered"]).await;
    ada.refresh().await.unwrap();
    click(&ada, "#chats button").await;
    wait_for_texts(&ada, "#messages .content", &["hello grace"]).await;
    wait_for_texts(&ada, "#messages li.mine .status", &["delivered"]).await;

    // Grace finds Ada by her exact name (the form's button: the same as Enter) and sees the
    // message that was sent before she opened the chat.
    open_chat_with(&grace, "ada").await;
    wait_for_texts(&grace, "#messages .content", &["hello grace"]).await;

    // Both ways, live; a message that looks like markup stays text.
    send(&grace, "hi ada").await;
    wait_for_texts(&ada, "#messages .content", &["hello grace", "hi ada"]).await;
    let markup = "<img src=x onerror=\"document.title='pwned'\"> <b>bold?</b>";
    send(&ada, markup).await;
    wait_for_texts(&grace, "#messages .content", &["hello grace", "hi ada", markup]).await;
    assert_eq!(count(&grace, "#messages img, #messages b").await, 0);
    assert_eq!(grace.title().await.unwrap(), "chat-suite");

    // Grace has the chat open: Ada's messages show as read.
    wait_for_texts(&ada, "#messages li.mine .status", &["seen", "seen"]).await;
    wait_for_texts(&ada, "#messages li.theirs .sender", &["grace"]).await;

    // A reload keeps the tab signed in, and the chat's history comes back from the server,
    // with what Grace read.
    ada.refresh().await.unwrap();
    wait_for_texts(&ada, "#me-name", &["ada"]).await;
    wait_for_texts(&ada, "#chats .name", &["grace"]).await;
    click(&ada, "#chats button").await;
    wait_for_texts(&ada, "#messages .content", &["hello grace", "hi ada", markup]).await;
    wait_for_texts(&ada, "#messages li.mine .status", &["seen", "seen"]).await;
    wait_for_texts(&ada, "#connection", &["Connected."]).await;
    // Connecting, a page hears which of its chat peers are online.
    wait_for_texts(&ada, "#peer-presence", &["online"]).await;
    send(&ada, "back again").await;
    wait_for_texts(&grace, "#messages .content", &["hello grace", "hi ada", markup, "back again"]).await;

    // Neither page broke its policy or threw.
    assert_eq!(errors_logged(&grace).await, Vec::<Value>::new());
    assert_eq!(errors_logged(&ada).await, Vec::<Value>::new());

    // The server goes away. A message written meanwhile waits; both pages come back by
    // themselves, and it goes out once and reaches Grace, however the two reconnect.
    suite.stop();
    let state = "return document.body.dataset.connection";
    wait_for_script(&ada, "the connection", state, Vec::new(), json!("waiting")).await;
    send(&ada, "sent while the server was down").await;
    wait_for_texts(&ada, "#messages li[data-status=sending] .content", &["sent while the server was down"]).await;
    suite.start_again();
    let everything = ["hello grace", "hi ada", markup, "back again", "sent while the server was down"];
    wait_for_texts(&grace, "#messages .content", &everything).await;
    wait_for_texts(&ada, "#messages .content", &everything).await;
    wait_for_texts(&ada, "#messages li[data-status=sending]", &[]).await;
    wait_for_texts(&ada, "#peer-presence", &["online"]).await;

    // Grace closes her browser: Ada sees her go offline.
    grace.close().await.unwrap();
    wait_for_texts(&ada, "#peer-presence", &["offline"]).await;
    ada.close().await.unwrap();
}
