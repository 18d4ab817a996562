//! A group of three in three browsers: Alice makes it with Bob and Carol, picked by name;
//! everyone sees it and each other's messages under the sender's name; Alice renames it, makes
//! Bob an admin and removes Carol, whose page says she is out and who gets nothing more of it;
//! Bob leaves.

use serde_json::{Value, json};

use crate::{
    driver::{Chromedriver, click, errors_logged, fill, register, send, texts, wait_for_script, wait_for_texts},
    suite::Suite,
};

#[tokio::test]
async fn three_people_chat_in_a_group_and_the_owner_renames_it_and_removes_one() {
    let suite = Suite::start();
    let page = format!("{}/", suite.base);
    let driver = Chromedriver::start();
    let alice = driver.browser().await;
    let bob = driver.browser().await;
    let carol = driver.browser().await;
    for (browser, name) in [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")] {
        register(browser, &page, name).await;
        wait_for_texts(browser, "#connection", &["Connected."]).await;
    }

    // Alice makes the group: a title, Bob by the start of his name, Carol by all of hers
    // (Enter in the name field adds her rather than making the group).
    click(&alice, "#new-group summary").await;
    fill(&alice, "#group-title", "Hike").await;
    fill(&alice, "#group-find", "bo").await;
    wait_for_texts(&alice, "#group-found button", &["Add bob"]).await;
    click(&alice, "#group-found button").await;
    fill(&alice, "#group-find", "carol\u{E007}").await;
    wait_for_texts(&alice, "#group-picked .member-name", &["bob", "carol"]).await;
    click(&alice, "#create-group").await;
    wait_for_texts(&alice, "#peer-name", &["Hike"]).await;
    wait_for_texts(&alice, "#peer-presence", &["3 members"]).await;
    click(&alice, "#group-panel summary").await;
    wait_for_texts(&alice, "#members .member-name", &["alice", "bob", "carol"]).await;
    wait_for_texts(&alice, "#members .role", &["owner"]).await;

    // Bob and Carol were connected before it existed: it comes to their lists live.
    for browser in [&bob, &carol] {
        wait_for_texts(browser, "#chats .name", &["Hike"]).await;
        wait_for_texts(browser, "#chats .members", &["3 members"]).await;
        click(browser, "#chats button").await;
        wait_for_texts(browser, "#peer-name", &["Hike"]).await;
    }
    // A plain member sees the members but may not add, remove or rename.
    wait_for_texts(&bob, "#members .member-name", &["alice", "bob", "carol"]).await;
    let manages = "return ['add-form', 'rename-form'].map((id) => document.getElementById(id).hidden)";
    wait_for_script(&bob, "bob's settings", manages, vec![], json!([true, true])).await;
    assert_eq!(texts(&bob, "#members button").await, Vec::<String>::new());

    // Each writes; the other two see it under the writer's name. Bob's typing shows first.
    send(&alice, "hello from alice").await;
    for browser in [&bob, &carol] {
        wait_for_texts(browser, "#messages .content", &["hello from alice"]).await;
        wait_for_texts(browser, "#messages li.theirs .sender", &["alice"]).await;
    }
    fill(&bob, "#message", "hello from bob").await;
    wait_for_texts(&alice, "#typing", &["bob is typing…"]).await;
    click(&bob, "#send").await;
    wait_for_texts(&carol, "#messages .content", &["hello from alice", "hello from bob"]).await;
    send(&carol, "hello from carol").await;
    let all = ["hello from alice", "hello from bob", "hello from carol"];
    for (browser, senders) in
        [(&alice, ["You", "bob", "carol"]), (&bob, ["alice", "You", "carol"]), (&carol, ["alice", "bob", "You"])]
    {
        wait_for_texts(browser, "#messages .content", &all).await;
        wait_for_texts(browser, "#messages .sender", &senders).await;
    }
    wait_for_texts(&alice, "#typing", &[""]).await;
    // Both have the group open: Alice's message is read by everyone in it.
    wait_for_texts(&alice, "#messages li.mine .status", &["seen by everyone"]).await;

    // Alice renames it: the others' lists and headers follow.
    fill(&alice, "#rename-title", "Hike on Sunday").await;
    click(&alice, "#rename-form button").await;
    for browser in [&alice, &bob, &carol] {
        wait_for_texts(browser, "#peer-name", &["Hike on Sunday"]).await;
        wait_for_texts(browser, "#chats .name", &["Hike on Sunday"]).await;
    }
    wait_for_texts(&bob, "#group-activity", &["alice renamed the group."]).await;

    // Alice makes Bob an admin: he may now add people and remove plain members (Carol), and
    // his button to unmake himself is not there.
    click(&alice, "#members button[aria-label='Make admin: bob']").await;
    wait_for_texts(&bob, "#members .role", &["owner", "admin"]).await;
    wait_for_script(&bob, "bob's settings", manages, vec![], json!([false, false])).await;
    wait_for_texts(&bob, "#members button", &["Remove"]).await;
    wait_for_texts(&alice, "#members button", &["Unmake admin", "Remove", "Make admin", "Remove"]).await;

    // Alice removes Carol: Carol's page says so and stops her writing; the others' member
    // lists lose her.
    click(&alice, "#members button[aria-label='Remove: carol']").await;
    wait_for_texts(&carol, "#chat-closed", &["You were removed from this group by alice."]).await;
    wait_for_texts(&carol, "#chats .gone", &["you were removed"]).await;
    wait_for_texts(&carol, "#chats .members, #peer-presence .members", &[]).await;
    let writable = "return document.getElementById('send-form').hidden";
    wait_for_script(&carol, "carol's message form", writable, vec![], json!(true)).await;
    for browser in [&alice, &bob] {
        wait_for_texts(browser, "#members .member-name", &["alice", "bob"]).await;
        wait_for_texts(browser, "#peer-presence", &["2 members"]).await;
    }

    // Bob's next message reaches Alice (and is seen by everyone still in), not Carol.
    send(&bob, "carol is gone").await;
    wait_for_texts(&alice, "#messages .content", &[all[0], all[1], all[2], "carol is gone"]).await;
    wait_for_texts(&bob, "#messages li.mine .status", &["seen by everyone", "seen by everyone"]).await;
    assert_eq!(texts(&carol, "#messages .content").await, all);
    wait_for_texts(&carol, "#connection", &["Connected."]).await;

    // Bob leaves: the group goes from his list, and Alice is told.
    click(&bob, "#group-panel summary").await;
    click(&bob, "#leave").await;
    wait_for_texts(&bob, "#chats .name", &[]).await;
    wait_for_texts(&alice, "#members .member-name", &["alice"]).await;
    wait_for_texts(&alice, "#group-activity", &["bob left."]).await;

    // Nobody's page broke its policy, failed a request or threw.
    for browser in [&alice, &bob, &carol] {
        assert_eq!(errors_logged(browser).await, Vec::<Value>::new());
    }
    for browser in [alice, bob, carol] {
        browser.close().await.unwrap();
    }
}
