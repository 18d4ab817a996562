//! What the browser tests share: chromedriver with Debian's chromium, and the steps a person
//! takes on the page (fill a field, press Enter, click, wait for texts to show).
//!
//! Without chromium and chromedriver these tests fail (they do not skip): `scripts/test`
//! installs them (`ensure_chromium` in scripts/lib/services.sh).

use std::{
    os::unix::process::CommandExt,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, wd::WebDriverCompatibleCommand};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// How long a step may take to show on the page before the test gives up. Generous: the
/// machine may be busy; a step that works shows in well under a second.
pub const PATIENCE: Duration = Duration::from_secs(30);
/// The Enter key, as WebDriver types it.
pub const ENTER: &str = "\u{E007}";
pub const PASSWORD: &str = "correct horse battery";

/// Registers `name` the way a new user does: the three fields of the form, then Enter.
pub async fn register(browser: &Client, page: &str, name: &str) {
    browser.goto(page).await.unwrap();
    fill(browser, "#register-username", name).await;
    fill(browser, "#register-email", &format!("{name}@example.com")).await;
    fill(browser, "#register-password", &format!("{PASSWORD}{ENTER}")).await;
    wait_for_texts(browser, "#me-name", &[name]).await;
}

/// Registers `name` over the API: its user id and access token.
pub async fn register_over_http(base: &str, name: &str) -> (String, String) {
    let body = json!({"username": name, "email": format!("{name}@example.com"), "password": PASSWORD});
    let client = shared::http_client::builder().build().unwrap();
    let resp = client.post(format!("{base}/register")).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), reqwest::StatusCode::CREATED, "registering {name}");
    let pair: Value = resp.json().await.unwrap();
    (pair["user_id"].as_str().unwrap().to_owned(), pair["access_token"].as_str().unwrap().to_owned())
}

/// Opens the chat with `name`, found by exactly that name.
pub async fn open_chat_with(browser: &Client, name: &str) {
    fill(browser, "#find", name).await;
    click(browser, "#find-form button[type=submit]").await;
    wait_for_texts(browser, "#peer-name", &[name]).await;
}

pub async fn send(browser: &Client, text: &str) {
    fill(browser, "#message", text).await;
    click(browser, "#send").await;
}

pub async fn fill(browser: &Client, css: &str, text: &str) {
    let field = browser.wait().at_most(PATIENCE).for_element(Locator::Css(css)).await.unwrap();
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

/// Clicks the first element `css` matches, once it is there. The page redraws its lists when
/// events arrive, so an element found may be replaced before the click: then it tries again.
pub async fn click(browser: &Client, css: &str) {
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
pub async fn wait_for_texts(browser: &Client, css: &str, expected: &[&str]) {
    wait_for_script(browser, css, &texts_script(), vec![json!(css)], json!(expected)).await;
}

/// The texts of the elements `css` matches, now.
pub async fn texts(browser: &Client, css: &str) -> Vec<String> {
    serde_json::from_value(browser.execute(&texts_script(), vec![json!(css)]).await.unwrap()).unwrap()
}

fn texts_script() -> String {
    "return [...document.querySelectorAll(arguments[0])].map((e) => e.textContent.trim())".to_owned()
}

/// Waits until `script` returns `expected`; `what` names it if it never does.
pub async fn wait_for_script(browser: &Client, what: &str, script: &str, args: Vec<Value>, expected: Value) {
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

pub async fn count(browser: &Client, css: &str) -> u64 {
    let script = "return document.querySelectorAll(arguments[0]).length";
    browser.execute(script, vec![json!(css)]).await.unwrap().as_u64().unwrap()
}

/// What the browser logged as an error since the last call: a script error, a violation of
/// the Content-Security-Policy, a file that did not load.
pub async fn errors_logged(browser: &Client) -> Vec<Value> {
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

/// A Chrome DevTools Protocol command, through chromedriver's endpoint for them.
#[derive(Debug)]
pub struct Cdp {
    pub cmd: &'static str,
    pub params: Value,
}

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &reqwest::Url, session: Option<&str>) -> Result<reqwest::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &reqwest::Url) -> (poem::http::Method, Option<String>) {
        (poem::http::Method::POST, Some(json!({"cmd": self.cmd, "params": self.params}).to_string()))
    }
}

/// chromedriver on a free port, in a process group of its own with the browsers it starts.
pub struct Chromedriver {
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
    pub fn start() -> Self {
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
    pub async fn browser(&self) -> Client {
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
