//! The notifications button: there when the server has Web Push and the browser can push,
//! asking for nothing until it is clicked; absent when the server has no VAPID key.

use serde_json::json;
use shared::webpush::vapid::VapidKey;

use crate::{
    driver::{Chromedriver, register, wait_for_script},
    suite::Suite,
};

const BUTTON: &str = "const b = document.getElementById('notifications'); return [b.hidden, b.textContent];";

#[tokio::test]
async fn the_button_is_offered_when_the_server_can_push_and_asks_for_nothing_first() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("vapid.pem");
    std::fs::write(&key, VapidKey::generate().unwrap().to_pkcs8_pem().unwrap()).unwrap();
    let key = key.display().to_string();
    let suite = Suite::start_with(&[("VAPID_PRIVATE_KEY_FILE", &key), ("VAPID_SUBJECT", "mailto:ops@example.com")]);
    let driver = Chromedriver::start();
    let browser = driver.browser().await;
    register(&browser, &format!("{}/", suite.base), "pusher").await;
    wait_for_script(&browser, "the notifications button", BUTTON, vec![], json!([false, "Turn on notifications"]))
        .await;
    // Nothing was asked of the user, and no worker registered, before a click.
    let untouched =
        "return navigator.serviceWorker.getRegistrations().then((r) => [Notification.permission, r.length]);";
    let state = browser.execute(untouched, vec![]).await.unwrap();
    assert_eq!(state, json!(["default", 0]));
    browser.close().await.unwrap();
}

#[tokio::test]
async fn without_web_push_on_the_server_there_is_no_button() {
    let suite = Suite::start();
    let driver = Chromedriver::start();
    let browser = driver.browser().await;
    register(&browser, &format!("{}/", suite.base), "quiet").await;
    // The page asked the server, which has no key (204): the button stays hidden.
    wait_for_script(
        &browser,
        "the key asked for",
        "return performance.getEntriesByType('resource').some((e) => e.name.endsWith('/push/vapid-public-key'));",
        vec![],
        json!(true),
    )
    .await;
    wait_for_script(&browser, "the notifications button", BUTTON, vec![], json!([true, "Turn on notifications"])).await;
    browser.close().await.unwrap();
}
