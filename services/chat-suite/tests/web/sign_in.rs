//! Signing in: Enter does what the form it is pressed in says, and too many attempts say how
//! long to wait.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::{
    driver::{Chromedriver, ENTER, PASSWORD, PATIENCE, click, fill, register, texts, wait_for_script, wait_for_texts},
    suite::Suite,
};

/// Enter in the registration form registers (it used to log in, the first button of a single
/// form, and a new user read "invalid username or password"); Enter in the login form logs in.
#[tokio::test]
async fn enter_registers_in_the_registration_form_and_logs_in_in_the_other() {
    let suite = Suite::start();
    let page = format!("{}/", suite.base);
    let driver = Chromedriver::start();
    let browser = driver.browser().await;

    register(&browser, &page, "newcomer").await;
    wait_for_texts(&browser, "#auth-error", &[""]).await;
    wait_for_texts(&browser, "#connection", &["Connected."]).await;

    click(&browser, "#sign-out").await;
    wait_for_script(
        &browser,
        "the sign-in view",
        "return document.getElementById('sign-in').hidden",
        vec![],
        json!(false),
    )
    .await;
    fill(&browser, "#login-username", "NewComer").await;
    fill(&browser, "#login-password", &format!("{PASSWORD}{ENTER}")).await;
    wait_for_texts(&browser, "#me-name", &["newcomer"]).await;
    browser.close().await.unwrap();
}

/// A 429 says how long to wait (its `Retry-After`): the button counts it down, disabled, and
/// comes back when the wait is over.
#[tokio::test]
async fn too_many_sign_ins_say_how_long_to_wait() {
    let suite = Suite::start();
    let page = format!("{}/", suite.base);
    let driver = Chromedriver::start();
    let browser = driver.browser().await;
    browser.goto(&page).await.unwrap();

    // Wrong passwords until the limit answers, whatever the limit is: each attempt's answer is
    // waited for (the error line is emptied before it).
    fill(&browser, "#login-username", "somebody").await;
    let clear_and_submit = "document.getElementById('auth-error').textContent = ''; \
                            document.getElementById('login-form').requestSubmit();";
    let answer = "return document.getElementById('auth-error').textContent !== ''";
    for attempt in 0.. {
        assert!(attempt < 100, "no 429 after {attempt} attempts: {:?}", texts(&browser, "#auth-error").await);
        fill(&browser, "#login-password", "not the password").await;
        browser.execute(clear_and_submit, vec![]).await.unwrap();
        wait_for_script(&browser, "an answer", answer, vec![], json!(true)).await;
        if texts(&browser, "#auth-error").await != ["invalid username or password"] {
            break;
        }
    }
    let button = "const b = document.getElementById('login'); return [b.disabled, b.textContent]";
    let held = browser.execute(button, vec![]).await.unwrap();
    let label = held[1].as_str().unwrap();
    let seconds: u64 = label
        .strip_prefix("Log in (in ")
        .and_then(|rest| rest.strip_suffix(" s)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{held}"));
    assert_eq!((held[0].clone(), seconds >= 1), (json!(true), true), "{held}");

    // The wait is the server's to choose; the button is back once it is over.
    let back = json!([false, "Log in"]);
    let started = Instant::now();
    while browser.execute(button, vec![]).await.unwrap() != back {
        assert!(started.elapsed() < PATIENCE + Duration::from_secs(seconds), "still held after {seconds} s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    browser.close().await.unwrap();
}
