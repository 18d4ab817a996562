//! The official JavaScript Socket.IO clients (v4, and v3 as the original web page loads it),
//! driven from a test: one node process (`testkit/socketio/driver.cjs`) holds the test's
//! named clients, takes commands as JSON lines and says what each client saw, one JSON line
//! per thing, in the order it happened (the lines are listed in driver.cjs).
//!
//! `scripts/test` installs the clients into the cache from `testkit/socketio/package-lock.json`
//! and sets `SOCKETIO_CLIENTS`; without it, the cache's copy is used. The waits below are hang
//! guards, never timed assertions: a client that takes long is waited for, one that never
//! answers fails the test after `PATIENCE`, naming what it waited for and what it saw.

use std::{collections::VecDeque, path::PathBuf, process::Stdio, time::Duration};

use serde_json::{Value, json};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    process::{Child, ChildStdin, Command},
    sync::mpsc,
    time::Instant,
};

/// How long one wait lasts before the test fails as hung.
const PATIENCE: Duration = Duration::from_secs(20);

/// The major version of `socket.io-client`, as pinned in `testkit/socketio/package.json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// 3.1.3, the last v3, which the original service's web page loads.
    V3,
    /// 4.8.4.
    V4,
}

impl Version {
    pub const BOTH: [Self; 2] = [Self::V3, Self::V4];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::V3 => "v3",
            Self::V4 => "v4",
        }
    }
}

/// The test's Socket.IO clients, in one node process killed when this is dropped.
pub struct NodeClients {
    _child: Child,
    stdin: ChildStdin,
    lines: Lines,
    next_ack: u64,
}

impl NodeClients {
    /// Starts the driver. Panics, saying how to get them, when the clients are not installed.
    pub fn start() -> Self {
        let clients = clients_dir();
        let driver = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("socketio/driver.cjs");
        let mut child = Command::new("node")
            .arg(&driver)
            .env("SOCKETIO_CLIENTS", clients)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            // A crash of node or of a client shows in the test's output.
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start node {}: {e}; node must be installed", driver.display()));
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut stdout = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = stdout.next_line().await {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| json!({"type": "error", "message": format!("driver wrote {line:?}: {e}")}));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Self { _child: child, stdin, lines: Lines::new(rx, PATIENCE), next_ack: 1 }
    }

    /// A new client `id` connecting to `url` (`http://127.0.0.1:PORT/chat`); `opts` go to
    /// `io(url, opts)` as they are (`auth`, `transports`, `query`, `extraHeaders`, reconnection
    /// settings), with `forceNew` so that no two clients share a connection.
    pub async fn connect(&mut self, id: &str, version: Version, url: &str, opts: Value) {
        self.send(json!({"op": "connect", "id": id, "version": version.as_str(), "url": url, "opts": opts})).await;
    }

    /// Like `connect`, but as a client that resumes: `auth` becomes a function that adds the
    /// last message id the client has seen in each chat (`last_message_ids`), so every
    /// reconnection, the client's own included, asks for what it missed.
    pub async fn connect_resuming(&mut self, id: &str, version: Version, url: &str, opts: Value) {
        let command =
            json!({"op": "connect", "id": id, "version": version.as_str(), "url": url, "opts": opts, "resume": true});
        self.send(command).await;
    }

    /// `socket.emit(event, data)`, with `data` one of the forms the AsyncAPI document gives the
    /// event (the test fails otherwise: the document must describe what clients send).
    pub async fn emit(&mut self, id: &str, event: &str, data: Value) {
        documented(event, &data);
        self.emit_unchecked(id, event, data).await;
    }

    /// `emit`, for data the document does not allow: what a test sends to see it refused.
    pub async fn emit_unchecked(&mut self, id: &str, event: &str, data: Value) {
        self.send(json!({"op": "emit", "id": id, "event": event, "data": data, "ack": null})).await;
    }

    /// `socket.emit(event, data, callback)`: the callback's arguments come back as the line
    /// `{type: "ack", id, n, args}` with the `n` returned here (see `ack`). `data` must be as
    /// documented, as for `emit`.
    pub async fn emit_with_ack(&mut self, id: &str, event: &str, data: Value) -> u64 {
        documented(event, &data);
        self.emit_with_ack_unchecked(id, event, data).await
    }

    /// `emit_with_ack`, for data the document does not allow.
    pub async fn emit_with_ack_unchecked(&mut self, id: &str, event: &str, data: Value) -> u64 {
        let n = self.next_ack;
        self.next_ack += 1;
        self.send(json!({"op": "emit", "id": id, "event": event, "data": data, "ack": n})).await;
        n
    }

    /// `socket.disconnect()`: the client leaves and does not come back by itself.
    pub async fn disconnect(&mut self, id: &str) {
        self.send(json!({"op": "disconnect", "id": id})).await;
    }

    /// `socket.connect()` after a `disconnect`, with a new `socket.auth` when given (a fresh
    /// token, resume positions).
    pub async fn connect_again(&mut self, id: &str, auth: Option<Value>) {
        let mut command = json!({"op": "connect_again", "id": id});
        if let Some(auth) = auth {
            command["auth"] = auth;
        }
        self.send(command).await;
    }

    /// Closes the client's engine as a lost network would (the client sees "forced close", the
    /// server "transport close"); the client then reconnects by itself with its `auth`.
    pub async fn close_engine(&mut self, id: &str) {
        self.send(json!({"op": "close_engine", "id": id})).await;
    }

    /// The oldest line of client `id` that no wait has taken yet, whatever it is.
    pub async fn next_for(&mut self, id: &str) -> Value {
        self.lines.take(id, "its next line", |_| true).await
    }

    /// The oldest line of client `id` that `wanted` accepts and no wait has taken yet. The
    /// lines it does not take stay for later waits, of this client and of the others: some
    /// orders are not fixed (a client with the default transports may say `upgrade` before or
    /// after `connect`), and a line passed over is not lost (`untaken` shows what is left).
    /// So a wait for a line that comes again (`connect` after a reconnect) takes the older
    /// one first if no wait took it.
    pub async fn wait_for(&mut self, id: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        self.lines.take(id, "a line the test's predicate accepts", wanted).await
    }

    /// The lines of client `id` that have arrived and no wait has taken, oldest first, without
    /// waiting for more.
    pub fn untaken(&mut self, id: &str) -> Vec<Value> {
        self.lines.untaken(id)
    }

    /// The arguments the server gave the ack callback of `emit_with_ack`'s `n`.
    pub async fn ack(&mut self, id: &str, n: u64) -> Vec<Value> {
        let line = self.lines.take(id, &format!("ack {n}"), |l| l["type"] == "ack" && l["n"] == n).await;
        args_of(line)
    }

    /// The arguments of the next `event` the server emitted to client `id`.
    pub async fn event(&mut self, id: &str, event: &str) -> Vec<Value> {
        let line =
            self.lines.take(id, &format!("event {event:?}"), |l| l["type"] == "event" && l["event"] == event).await;
        args_of(line)
    }

    async fn send(&mut self, command: Value) {
        let mut line = command.to_string();
        line.push('\n');
        if let Err(e) = async {
            self.stdin.write_all(line.as_bytes()).await?;
            self.stdin.flush().await
        }
        .await
        {
            panic!("the Socket.IO driver (node) is gone ({e}); it was sent {command}");
        }
    }
}

/// `SOCKETIO_CLIENTS`, or where `scripts/test` last installed the clients, so that a plain
/// `cargo test` after one `scripts/test` finds them.
fn clients_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("SOCKETIO_CLIENTS") {
        return dir.into();
    }
    let cache = std::env::var_os("CHAT_SUITE_CACHE").map_or_else(
        || PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/chat-suite"),
        PathBuf::from,
    );
    let cached = cache.join("socketio-clients/node_modules");
    if cached.is_dir() {
        return cached;
    }
    panic!(
        "the Socket.IO clients are not installed (SOCKETIO_CLIENTS is not set, and {} does not exist): run the \
         tests through scripts/test, which installs them, or run `ensure_socketio_clients` of \
         scripts/lib/services.sh once",
        cached.display()
    )
}

fn args_of(mut line: Value) -> Vec<Value> {
    match line["args"].take() {
        Value::Array(args) => args,
        _ => panic!("no args in {line}"),
    }
}

/// The driver's lines, handed out per client: each wait takes the oldest line of its client
/// that it wants, and leaves every other line, in order, for later waits.
struct Lines {
    rx: mpsc::UnboundedReceiver<Value>,
    untaken: VecDeque<Value>,
    /// Everything received, for the message of a test that hangs.
    seen: Vec<Value>,
    patience: Duration,
}

impl Lines {
    fn new(rx: mpsc::UnboundedReceiver<Value>, patience: Duration) -> Self {
        Self { rx, untaken: VecDeque::new(), seen: Vec::new(), patience }
    }

    async fn take(&mut self, id: &str, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + self.patience;
        let mut checked = 0;
        loop {
            if let Some(i) =
                (checked..self.untaken.len()).find(|&i| self.untaken[i]["id"] == id && wanted(&self.untaken[i]))
            {
                return self.untaken.remove(i).unwrap();
            }
            checked = self.untaken.len();
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(line)) => self.arrived(line, id, what),
                Ok(None) => self.fail(id, what, "the driver (node) ended"),
                Err(_) => self.fail(id, what, &format!("nothing came within {:?}", self.patience)),
            }
        }
    }

    fn untaken(&mut self, id: &str) -> Vec<Value> {
        while let Ok(line) = self.rx.try_recv() {
            self.arrived(line, id, "the lines that arrived");
        }
        self.untaken.iter().filter(|line| line["id"] == id).cloned().collect()
    }

    fn arrived(&mut self, line: Value, id: &str, what: &str) {
        self.seen.push(line.clone());
        // A driver error is a mistake of the test or of the harness, never an answer.
        if line["type"] == "error" {
            self.fail(id, what, &format!("the driver refused a command: {line}"));
        }
        self.untaken.push_back(line);
    }

    fn fail(&self, id: &str, what: &str, why: &str) -> ! {
        let seen: Vec<String> = self.seen.iter().map(Value::to_string).collect();
        panic!("Socket.IO client {id:?}, waiting for {what}: {why}; the driver said:\n{}", seen.join("\n"));
    }
}

/// Fails the test when `data` is not a form the AsyncAPI document gives Socket.IO's `event`.
#[track_caller]
pub fn documented(event: &str, data: &Value) {
    if let Err(why) = crate::asyncapi::check_socketio_client(event, data) {
        panic!(
            "a payload the AsyncAPI document does not describe (use an *_unchecked emit to send it on purpose): {why}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(sent: &[Value]) -> (mpsc::UnboundedSender<Value>, Lines) {
        let (tx, rx) = mpsc::unbounded_channel();
        for line in sent {
            tx.send(line.clone()).unwrap();
        }
        (tx, Lines::new(rx, Duration::from_millis(50)))
    }

    #[tokio::test]
    async fn a_wait_takes_the_line_it_wants_and_leaves_the_others_in_order() {
        let (_tx, mut lines) = lines(&[
            json!({"type": "upgrade", "id": "a"}),
            json!({"type": "connect", "id": "b"}),
            json!({"type": "connect", "id": "a"}),
            json!({"type": "event", "id": "a", "event": "one"}),
            json!({"type": "event", "id": "a", "event": "two"}),
        ]);

        let a = lines.take("a", "a's two", |l| l["event"] == "two").await;
        assert_eq!(a, json!({"type": "event", "id": "a", "event": "two"}));
        assert_eq!(lines.take("a", "connect", |l| l["type"] == "connect").await["id"], "a");
        assert_eq!(lines.take("a", "next", |_| true).await["type"], "upgrade");
        assert_eq!(lines.untaken("a"), [json!({"type": "event", "id": "a", "event": "one"})]);
        assert_eq!(lines.take("b", "next", |_| true).await, json!({"type": "connect", "id": "b"}));
    }

    #[tokio::test]
    async fn a_wait_takes_a_line_that_arrives_while_it_waits() {
        let (tx, mut lines) = lines(&[json!({"type": "connect", "id": "b"})]);
        let late = tokio::spawn(async move {
            tokio::task::yield_now().await;
            tx.send(json!({"type": "connect", "id": "a"})).unwrap();
            tx
        });

        assert_eq!(lines.take("a", "connect", |l| l["type"] == "connect").await["id"], "a");
        drop(late.await.unwrap());
        assert_eq!(lines.untaken("b"), [json!({"type": "connect", "id": "b"})]);
    }

    #[tokio::test]
    #[should_panic(expected = "waiting for a reply: nothing came within")]
    async fn a_wait_that_nothing_answers_fails_naming_what_it_saw() {
        let (_tx, mut lines) = lines(&[json!({"type": "connect", "id": "b"})]);
        lines.take("a", "a reply", |_| true).await;
    }

    #[tokio::test]
    #[should_panic(expected = "the driver refused a command")]
    async fn a_driver_error_fails_the_wait() {
        let (_tx, mut lines) = lines(&[json!({"type": "error", "id": "a", "message": "no client \"a\""})]);
        lines.take("a", "a reply", |_| true).await;
    }
}
