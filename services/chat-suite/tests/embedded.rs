//! The newcomer's path: `chat-suite` with no environment at all, on the embedded default.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use serde_json::{Value, json};

struct Suite {
    child: Child,
    base: String,
}

impl Drop for Suite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the binary in `dir` with an empty environment but for the port, and reads the
/// address it bound from its log.
fn start(dir: &Path) -> Suite {
    let mut child = Command::new(env!("CARGO_BIN_EXE_chat-suite"))
        .current_dir(dir)
        .env_clear()
        .env("LISTEN_ADDR", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let addr = loop {
        let line = lines.next().expect("chat-suite exited before listening").unwrap();
        if let Ok(log) = serde_json::from_str::<Value>(&line)
            && log["message"] == "chat-suite listening"
        {
            break log["addr"].as_str().unwrap().to_owned();
        }
    };
    // Keep draining the log so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Suite { child, base: format!("http://{addr}") }
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> (u16, Value) {
    let resp = client.post(url).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get_json(client: &reqwest::Client, url: String, token: &str) -> Value {
    client.get(url).bearer_auth(token).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn a_newcomer_registers_logs_in_refreshes_and_reads_me_on_the_embedded_default() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let suite = start(dir.path());
    let base = suite.base.clone();

    let (status, registered) = post(
        &client,
        format!("{base}/register"),
        json!({"username": "newcomer", "password": "correct horse battery", "email": "new@example.com"}),
    )
    .await;
    assert_eq!(status, 201, "{registered}");
    let (status, login) =
        post(&client, format!("{base}/login"), json!({"username": "newcomer", "password": "correct horse battery"}))
            .await;
    assert_eq!(status, 200, "{login}");
    let (status, refreshed) =
        post(&client, format!("{base}/token/refresh"), json!({"refresh_token": login["refresh_token"]})).await;
    assert_eq!(status, 200, "{refreshed}");
    let token = refreshed["access_token"].as_str().unwrap();
    let me = get_json(&client, format!("{base}/me"), token).await;
    assert_eq!(me["username"], "newcomer");
    assert_eq!(me["user_id"], registered["user_id"]);

    // user-search is mounted too, verifying with the in-process keys.
    let found = get_json(&client, format!("{base}/users/search?q=NEW"), token).await;
    assert_eq!(found, json!({"users": [{"username": "newcomer", "user_id": registered["user_id"]}]}));

    let docs = client.get(format!("{base}/docs")).send().await.unwrap();
    assert_eq!(docs.status(), 200);
    assert!(docs.text().await.unwrap().contains("swagger"));
    let spec: Value = client.get(format!("{base}/openapi.json")).send().await.unwrap().json().await.unwrap();
    assert!(spec["paths"]["/register"]["post"].is_object());
    assert!(spec["paths"]["/users/search"]["get"].is_object());
    assert!(dir.path().join("data/chat-suite.db").exists());
    assert!(dir.path().join("data/jwt-signing-key.pem").exists());

    // A restart keeps the users and the signing key: the old access token still works.
    drop(suite);
    let suite = start(dir.path());
    let me = client
        .get(format!("{}/me", suite.base))
        .bearer_auth(refreshed["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), 200);
}

/// SIGTERM right after start-up stops it cleanly too: the handlers are in place before the
/// listener is bound (they used to be installed only once serving began, and a SIGTERM in
/// between killed the process the default way).
#[tokio::test]
async fn sigterm_stops_it_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut suite = start(dir.path());
    let pid = suite.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = suite.child.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running 10 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
}
