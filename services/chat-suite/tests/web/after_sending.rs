//! What two people do with messages after they are sent, in their browsers: Bob replies to
//! Alice's question, Alice edits it, both react (and take a reaction back), Alice deletes a
//! message she regrets; Bob mutes the chat, then blocks Alice, whose next message is refused,
//! and unblocks her; Alice deletes her account. Each step shows on both pages.

use serde_json::{Value, json};

use crate::{
    driver::{
        Chromedriver, PASSWORD, click, errors_logged, fill, open_chat_with, register, send, wait_for_script,
        wait_for_texts,
    },
    suite::Suite,
};

#[tokio::test]
async fn two_people_reply_edit_react_delete_mute_and_block() {
    let suite = Suite::start();
    let page = format!("{}/", suite.base);
    let driver = Chromedriver::start();
    let alice = driver.browser().await;
    let bob = driver.browser().await;
    register(&alice, &page, "alice").await;
    register(&bob, &page, "bob").await;
    open_chat_with(&alice, "bob").await;
    open_chat_with(&bob, "alice").await;

    // Bob answers Alice's question with a reply: both pages show what it answers.
    send(&alice, "lunch at noon?").await;
    wait_for_texts(&bob, "#messages .content", &["lunch at noon?"]).await;
    click(&bob, "#messages li.theirs button[data-action='reply']").await;
    wait_for_texts(&bob, "#composing-text", &["Replying to: lunch at noon?"]).await;
    send(&bob, "yes!").await;
    for browser in [&alice, &bob] {
        wait_for_texts(browser, "#messages .content", &["lunch at noon?", "yes!"]).await;
    }
    wait_for_texts(&alice, "#messages .reply-to", &["Replying to you: lunch at noon?"]).await;
    wait_for_texts(&bob, "#messages .reply-to", &["Replying to alice: lunch at noon?"]).await;
    wait_for_script(&bob, "the composer", "return document.getElementById('composing').hidden", vec![], json!(true))
        .await;

    // Alice edits her question; only her own text messages offer it.
    wait_for_texts(&bob, "#messages button[data-action='edit']", &["Edit"]).await;
    click(&alice, "#messages li.mine button[data-action='edit']").await;
    wait_for_texts(&alice, "#composing-text", &["Editing: lunch at noon?"]).await;
    send(&alice, "lunch at one?").await;
    for browser in [&alice, &bob] {
        wait_for_texts(browser, "#messages .content", &["lunch at one?", "yes!"]).await;
        wait_for_texts(browser, "#messages .edited", &["edited"]).await;
    }
    wait_for_texts(&bob, "#messages .reply-to", &["Replying to alice: lunch at one?"]).await;

    // Bob reacts to it; Alice reacts so too, then takes hers back.
    click(&bob, "#messages li.theirs button[aria-label='React with 👍']").await;
    for browser in [&alice, &bob] {
        wait_for_texts(browser, "#messages .reactions button", &["👍 1"]).await;
    }
    click(&alice, "#messages .reactions button").await;
    for browser in [&alice, &bob] {
        wait_for_texts(browser, "#messages .reactions button", &["👍 2"]).await;
    }
    wait_for_script(&alice, "alice's reaction", PRESSED, vec![], json!(["true"])).await;
    wait_for_script(&bob, "bob's reaction", PRESSED, vec![], json!(["true"])).await;
    click(&alice, "#messages .reactions button").await;
    for browser in [&alice, &bob] {
        wait_for_texts(browser, "#messages .reactions button", &["👍 1"]).await;
    }
    wait_for_script(&alice, "alice's reaction", PRESSED, vec![], json!(["false"])).await;

    // Alice deletes a message she regrets (two presses): a tombstone on both pages.
    send(&alice, "my pin is 1234").await;
    wait_for_texts(&bob, "#messages .content", &["lunch at one?", "yes!", "my pin is 1234"]).await;
    click(&alice, "#messages li.mine:last-child button[data-action='delete']").await;
    click(&alice, "#messages li.mine:last-child button[data-action='confirm-delete']").await;
    for browser in [&alice, &bob] {
        wait_for_texts(browser, "#messages .content", &["lunch at one?", "yes!", "This message was deleted."]).await;
    }

    // Bob mutes the chat: the button says so, and so does his list after a reload.
    click(&bob, "#mute").await;
    wait_for_texts(&bob, "#mute", &["Unmute"]).await;
    bob.refresh().await.unwrap();
    click(&bob, "#chats button").await;
    wait_for_texts(&bob, "#mute", &["Unmute"]).await;

    // Bob blocks Alice: her next message is refused, and says so; unblocked, it goes.
    click(&bob, "#block").await;
    wait_for_texts(&bob, "#block", &["Unblock alice"]).await;
    send(&alice, "hello?").await;
    wait_for_texts(&alice, "#messages li[data-status='failed'] .status", &["not sent: you cannot message this user"])
        .await;
    click(&bob, "#block").await;
    wait_for_texts(&bob, "#block", &["Block alice"]).await;
    send(&alice, "friends again?").await;
    wait_for_texts(
        &bob,
        "#messages .content",
        &["lunch at one?", "yes!", "This message was deleted.", "friends again?"],
    )
    .await;

    // Alice deletes her account (her password again): her page signs out, and on Bob's page
    // every message she sent is deleted.
    // (A wrong password is the API tests': its 403 would be an error in the console.)
    click(&alice, "#delete-account").await;
    fill(&alice, "#delete-password", PASSWORD).await;
    click(&alice, "#delete-confirm").await;
    wait_for_texts(&alice, "#auth-error", &["Your account was deleted."]).await;
    let gone = "This message was deleted.";
    wait_for_texts(&bob, "#messages .content", &[gone, "yes!", gone, gone]).await;

    for browser in [&alice, &bob] {
        assert_eq!(errors_logged(browser).await, Vec::<Value>::new());
    }
    for browser in [alice, bob] {
        browser.close().await.unwrap();
    }
}

/// Whether each reaction button is pressed (the user's own).
const PRESSED: &str =
    "return [...document.querySelectorAll('#messages .reactions button')].map((b) => b.getAttribute('aria-pressed'))";
