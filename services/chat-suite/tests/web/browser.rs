//! The page in a real browser: Debian's chromium, driven through chromedriver (WebDriver).
//! Two people register in two browsers of their own, find each other by name, chat both ways,
//! see their messages read, find the history again after a reload, and lose nothing when the
//! server restarts under them.
//!
//! Without chromium and chromedriver this test fails (it does not skip): `scripts/test`
//! installs them (`ensure_chromium` in scripts/lib/services.sh).

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use serde_json::{Value, json};

use crate::suite::Suite;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a step may take to show on the page before the test gives up. Generous: the
/// machine may be busy; a step that works shows in well under a second.
const PATIENCE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn two_people_find_each_other_and_chat_in_their_browsers() {
    let mut suite = Suite::start();
    let page = format!("{}/", suite.base);
    let driver = Chromedriver::start();
    let ada = driver.browser().await;
    let grace = driver.browser().await;

    register(&ada, &page, "ada").await;
    register(&grace, &page, "grace").await;

    // Ada finds Grace by the start of her name and opens their chat.
    fill(&ada, "#find", "GRA").await;
    wait_for_texts(&ada, "#found button", &["Chat with grace"]).await;
    click(&ada, "#found button").await;
    wait_for_texts(&ada, "#peer-name", &["grace"]).await;
    send(&ada, "hello grace").await;
    wait_for_texts(&ada, "#messages .content", &["hello grace"]).await;

    // Grace finds Ada by her exact name (the form's button: the same as Enter) and sees the
    // message that was sent before she opened the chat.
    fill(&grace, "#find", "ada").await;
    click(&grace, "#find-form button[type=submit]").await;
    wait_for_texts(&grace, "#peer-name", &["ada"]).await;
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

    // A reload keeps the tab signed in, and the chat's history comes back from the server.
    ada.refresh().await.unwrap();
    wait_for_texts(&ada, "#me-name", &["ada"]).await;
    wait_for_texts(&ada, "#chats .name", &["grace"]).await;
    click(&ada, "#chats button").await;
    wait_for_texts(&ada, "#messages .content", &["hello grace", "hi ada", markup]).await;
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

async fn register(browser: &Client, page: &str, name: &str) {
    browser.goto(page).await.unwrap();
    fill(browser, "#username", name).await;
    fill(browser, "#password", "correct horse battery").await;
    fill(browser, "#email", &format!("{name}@example.com")).await;
    click(browser, "#register").await;
    wait_for_texts(browser, "#me-name", &[name]).await;
}

async fn send(browser: &Client, text: &str) {
    fill(browser, "#message", text).await;
    click(browser, "#send").await;
}

async fn fill(browser: &Client, css: &str, text: &str) {
    let field = browser.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the first element `css` matches, once it is there. The page redraws its lists when
/// events arrive, so an element found may be replaced before the click: then it tries again.
async fn click(browser: &Client, css: &str) {
    let started = Instant::now();
    loop {
        let clicked = match browser.find(Locator::Css(css)).await {
            Ok(element) => element.click().await,
            Err(err) => Err(err),
        };
        match clicked {
            Ok(()) => return,
            Err(err) if started.elapsed() > PATIENCE => panic!("could not click {css}: {err}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Waits until the elements `css` matches have exactly these texts, in this order. They are
/// read in one script, at one instant: elements found one by one can go stale as the page
/// redraws.
async fn wait_for_texts(browser: &Client, css: &str, expected: &[&str]) {
    let script = "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent.trim())";
    wait_for_script(browser, css, script, vec![json!(css)], json!(expected)).await;
}

/// Waits until `script` returns `expected`; `what` names it if it never does.
async fn wait_for_script(browser: &Client, what: &str, script: &str, args: Vec<Value>, expected: Value) {
    let started = Instant::now();
    loop {
        let value = browser.execute(script, args.clone()).await.unwrap();
        if value == expected {
            return;
        }
        assert!(started.elapsed() < PATIENCE, "{what}: still {value}, expected {expected}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn count(browser: &Client, css: &str) -> u64 {
    let script = "return document.querySelectorAll(arguments[0]).length";
    browser.execute(script, vec![json!(css)]).await.unwrap().as_u64().unwrap()
}

/// What the browser logged as an error since the last call: a script error, a violation of
/// the Content-Security-Policy, a file that did not load.
async fn errors_logged(browser: &Client) -> Vec<Value> {
    let entries = browser.issue_cmd(BrowserLog).await.unwrap();
    entries.as_array().unwrap().iter().filter(|entry| entry["level"] == "SEVERE").cloned().collect()
}

/// chromedriver's log endpoint (W3C WebDriver has none; Selenium's `get_log` uses this one).
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(&self, base: &reqwest::Url, session: Option<&str>) -> Result<reqwest::Url, url::ParseError> {
        base.join(&format!("session/{}/se/log", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (poem::http::Method, Option<String>) {
        (poem::http::Method::POST, Some(json!({"type": "browser"}).to_string()))
    }
}

/// chromedriver on a free port, in a process group of its own with the browsers it starts.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Drop for Chromedriver {
    /// The whole group: a test that fails leaves its browsers open, and killing chromedriver
    /// alone would leave them running.
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

impl Chromedriver {
    fn start() -> Self {
        for program in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(program).exists(),
                "{program} is missing: this test needs Debian's chromium and chromium-driver \
                 (`apt-get install chromium chromium-driver`; scripts/test installs them)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        Self { child, url: format!("http://127.0.0.1:{port}") }
    }

    /// A browser of its own: its own profile, so its own sessionStorage.
    async fn browser(&self) -> Client {
        let capabilities = json!({
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                // As root (CI) chromium needs --no-sandbox; the rest keeps it from reaching
                // for Google's services, which this machine's closed network refuses.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1200,900",
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else { unreachable!() };
        let started = Instant::now();
        // chromedriver takes a moment to listen.
        loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector).capabilities(capabilities.clone()).connect(&self.url).await {
                Ok(client) => return client,
                Err(err) if started.elapsed() > PATIENCE => panic!("no browser from chromedriver: {err}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}
