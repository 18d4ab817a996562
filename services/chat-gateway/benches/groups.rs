//! Group delivery across two replicas, beside the Socket.IO peer doing `io.to(room).emit` with
//! its Redis adapter, driven by the same generator in the same run. Run by `scripts/bench`.
//!
//! Two groups: one of 1,000 members (10 messages/s into it: 10,000 deliveries/s) and one of
//! 10,000 (every member connected; most never send). Members are spread evenly over the two
//! server processes; a few of them send, each message carrying its sender, number and send
//! time; every other member's connection records when it arrived. For each message: the time
//! from its send to its arrival at the last member. While the load runs, the CPU time of every
//! process involved is read from `/proc`, and the Redis server's `PUBLISH` calls are counted:
//! the bus's cost per message, which for a room must not grow with its members.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "common/seed.rs"]
mod seed;
#[path = "common/wire.rs"]
mod wire;

use std::{
    collections::HashMap,
    process::Command,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use auth_api::tokens::{SigningKey, TokenIssuer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use shared::config::TokenSettings;
use testkit::bench::{self, CpuTimes, Latencies, Process, Profile, Report, Row, percent, setting};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;
use wire::{Read, Wire, Ws};

/// Members who send: the others only read.
const SENDERS: usize = 10;
/// Member ids per `add_members` frame: well within a frame's 64 KiB.
const ADD_CHUNK: usize = 1000;

/// A system under load: two server processes and the protocol to speak to them.
struct Target {
    wire: Wire,
    ports: [u16; 2],
    servers: [u32; 2],
    program: &'static str,
}

impl Target {
    fn group(&self, pid: u32, name: &str) -> Option<String> {
        if pid == std::process::id() {
            Some("load generator".to_owned())
        } else if self.servers.contains(&pid) {
            Some(self.program.to_owned())
        } else if name == "postgres" || name == "redis-server" {
            Some(name.to_owned())
        } else {
            None
        }
    }
}

/// One group's load: its members, messages per second into it, seconds of warm-up and measured.
#[derive(Debug, Clone, Copy)]
struct Load {
    members: usize,
    rate: u64,
    warmup: u64,
    seconds: u64,
}

/// A message on its way: when it was sent, how many members have it, when the last got it.
#[derive(Default, Clone, Copy)]
struct Track {
    sent_at: u64,
    arrived: usize,
    last: u64,
}

/// What one load measured.
struct Outcome {
    load: Load,
    /// Messages sent in the window.
    sent: u64,
    /// Of those, how many reached every other member.
    complete: u64,
    /// Deliveries (one message to one member) received in the window, per second.
    deliveries_rate: f64,
    /// Send to the last member's arrival, of messages sent in the window.
    to_last: Latencies,
    /// Send to each member's arrival.
    to_each: Latencies,
    duplicates: u64,
    /// Redis PUBLISH calls per message sent in the window.
    publishes_per_message: f64,
    cpu: Vec<(String, Duration)>,
}

impl Outcome {
    fn deliveries(&self) -> f64 {
        (self.deliveries_rate * self.load.seconds as f64).max(1.0)
    }

    fn cpu_per_delivery(&self) -> Duration {
        self.cpu_of(|_| true)
    }

    fn cpu_of(&self, wanted: impl Fn(&str) -> bool) -> Duration {
        let spent: Duration = self.cpu.iter().filter(|(name, _)| wanted(name)).map(|(_, d)| *d).sum();
        spent.div_f64(self.deliveries())
    }
}

/// Redis's count of `PUBLISH` calls so far.
fn publish_calls(redis_port: &str) -> u64 {
    let out = Command::new("redis-cli").args(["-p", redis_port, "INFO", "commandstats"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|line| line.strip_prefix("cmdstat_publish:calls=")?.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// chat-suite's group of `members`: made over HTTP by the first with up to `ADD_CHUNK` of the
/// others, the rest added over the owner's socket. Its chat id.
async fn make_group(port: u16, tokens: &[String], ids: &[Uuid]) -> String {
    let client = shared::http_client::builder().build().unwrap();
    let first: Vec<Uuid> = ids[1..ids.len().min(ADD_CHUNK)].to_vec();
    let made: Value = client
        .post(format!("http://127.0.0.1:{port}/chats"))
        .bearer_auth(&tokens[0])
        .json(&json!({"title": format!("bench {}", ids.len()), "user_ids": first}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let chat = made["chat_id"].as_str().unwrap_or_else(|| panic!("no group made: {made}")).to_owned();
    if ids.len() > ADD_CHUNK {
        let mut owner = Wire::Chat.connect(port, &tokens[0]).await.unwrap();
        for chunk in ids[ADD_CHUNK..].chunks(ADD_CHUNK) {
            owner.send(Wire::Chat.frame("add_members", json!({"chat_id": chat, "user_ids": chunk}))).await.unwrap();
            let added = Wire::Chat.next_event(&mut owner, "members_added").await.unwrap();
            assert_eq!(added["user_ids"].as_array().map(Vec::len), Some(chunk.len()), "{added}");
        }
    }
    chat
}

/// Every member connected, member `i` to process `i % 2`, in the group's room.
async fn connect_all(target: &Target, tokens: &[String], chat: &str) -> Vec<Ws> {
    let wire = target.wire;
    let connect = |i: usize| async move {
        let mut ws = wire.connect(target.ports[i % 2], &tokens[i]).await.unwrap();
        if wire == Wire::SocketIo {
            ws.send(wire.frame("join_group", json!({"chat_id": chat}))).await.unwrap();
            wire.next_event(&mut ws, "group_joined").await.unwrap();
        }
        (i, ws)
    };
    let mut sockets: Vec<(usize, Ws)> =
        futures_util::stream::iter((0..tokens.len()).map(connect)).buffer_unordered(64).collect().await;
    sockets.sort_by_key(|(i, _)| *i);
    sockets.into_iter().map(|(_, ws)| ws).collect()
}

/// Runs `load` on `target` over `sockets` (member `i`'s at `i`): the first `SENDERS` send in
/// turn at the load's rate; every member reads until its connection is quiet.
async fn deliver(target: &Target, sockets: Vec<Ws>, chat: &str, load: Load, redis_port: &str) -> Outcome {
    let wire = target.wire;
    let members = sockets.len();
    let tracks: Arc<Mutex<HashMap<(usize, u64), Track>>> = Arc::default();
    let each = Arc::new(Mutex::new((Vec::<u64>::new(), 0u64, 0u64)));
    let base = Instant::now();
    let measure_from = load.warmup * 1_000_000;
    let measure_to = measure_from + load.seconds * 1_000_000;
    let measured = {
        let (from, to) = (base + Duration::from_secs(load.warmup), base + Duration::from_micros(measure_to));
        let redis_port = redis_port.to_owned();
        tokio::spawn(async move {
            tokio::time::sleep_until(from.into()).await;
            let before = (tokio::task::spawn_blocking(CpuTimes::read).await.unwrap(), publish_calls(&redis_port));
            tokio::time::sleep_until(to.into()).await;
            let after = (tokio::task::spawn_blocking(CpuTimes::read).await.unwrap(), publish_calls(&redis_port));
            (before, after)
        })
    };
    let per_sender = load.rate as f64 / SENDERS as f64;
    let mut tasks = Vec::with_capacity(members);
    for (me, mut ws) in sockets.into_iter().enumerate() {
        let (tracks, each, chat) = (tracks.clone(), each.clone(), chat.to_owned());
        let window = measure_from..measure_to;
        tasks.push(tokio::spawn(async move {
            let sends = me < SENDERS;
            let period = Duration::from_secs_f64(1.0 / per_sender);
            let offset = period.mul_f64(me as f64 / SENDERS as f64);
            let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(base) + offset, period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            let mut number = 0u64;
            let mut quiet_since = Instant::now();
            loop {
                let sending = sends && base.elapsed().as_micros() < u128::from(measure_to);
                let frame = tokio::select! {
                    _ = tick.tick(), if sending => {
                        let now = base.elapsed().as_micros() as u64;
                        let content = format!("{me} {number} {now}");
                        tracks.lock().unwrap().insert((me, number), Track { sent_at: now, arrived: 0, last: 0 });
                        number += 1;
                        if ws.send(wire.frame("send_message", json!({"chat_id": chat, "content": content}))).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    frame = tokio::time::timeout(Duration::from_secs(1), ws.next()) => frame,
                };
                let text = match frame {
                    Ok(Some(Ok(Message::Text(text)))) => text,
                    Ok(Some(Ok(_))) => continue,
                    Ok(_) => break,
                    // Quiet for 5 s once the sending is over: everything has arrived.
                    Err(_) if !sending && quiet_since.elapsed() > Duration::from_secs(5) => break,
                    Err(_) => continue,
                };
                quiet_since = Instant::now();
                let received = base.elapsed().as_micros() as u64;
                let data = match wire.read(text.as_str()) {
                    Read::Event(event, data) if event == "receive_message" => data,
                    Read::Ping => {
                        let _ = ws.send(Message::text("3")).await;
                        continue;
                    }
                    _ => continue,
                };
                let mut parts = data["content"].as_str().unwrap_or_default().split(' ');
                let mut field = || parts.next().and_then(|p| p.parse::<u64>().ok());
                let (Some(sender), Some(number)) = (field(), field()) else { continue };
                if sender as usize == me {
                    continue;
                }
                let mut tracks = tracks.lock().unwrap();
                let Some(track) = tracks.get_mut(&(sender as usize, number)) else { continue };
                track.arrived += 1;
                track.last = track.last.max(received);
                let (latency, in_window) = (received.saturating_sub(track.sent_at), window.contains(&track.sent_at));
                let duplicate = track.arrived > members - 1;
                drop(tracks);
                let mut each = each.lock().unwrap();
                if in_window {
                    each.0.push(latency);
                }
                if window.contains(&received) {
                    each.1 += 1;
                }
                if duplicate {
                    each.2 += 1;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let ((cpu_before, publishes_before), (cpu_after, publishes_after)) = measured.await.unwrap();
    let mut cpu = cpu_after.spent_since(&cpu_before, |pid, name| target.group(pid, name));
    cpu.sort_by_key(|(_, spent)| std::cmp::Reverse(*spent));
    let tracks = std::mem::take(&mut *tracks.lock().unwrap());
    let window = measure_from..measure_to;
    let sent: Vec<Track> = tracks.values().copied().filter(|t| window.contains(&t.sent_at)).collect();
    let complete: Vec<&Track> = sent.iter().filter(|t| t.arrived >= members - 1).collect();
    let to_last = Latencies::new(complete.iter().map(|t| Duration::from_micros(t.last - t.sent_at)).collect());
    let (latencies, received_in_window, duplicates) = std::mem::take(&mut *each.lock().unwrap());
    let sent_count = sent.len() as u64;
    Outcome {
        load,
        sent: sent_count,
        complete: complete.len() as u64,
        deliveries_rate: received_in_window as f64 / load.seconds as f64,
        to_last,
        to_each: Latencies::new(latencies.into_iter().map(Duration::from_micros).collect()),
        duplicates,
        publishes_per_message: publishes_after.saturating_sub(publishes_before) as f64 / sent_count.max(1) as f64,
        cpu,
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn us(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// One column per system, for one group.
fn side_by_side(columns: &[(&str, &Outcome)]) -> String {
    let mut out = String::from("| | ");
    out.push_str(&columns.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(" | "));
    out.push_str(" |\n| --- |");
    out.push_str(&" --- |".repeat(columns.len()));
    out.push('\n');
    let row = |out: &mut String, label: &str, cell: &dyn Fn(&Outcome) -> String| {
        out.push_str(&format!("| {label} | "));
        out.push_str(&columns.iter().map(|(_, o)| cell(o)).collect::<Vec<_>>().join(" | "));
        out.push_str(" |\n");
    };
    row(&mut out, "deliveries", &|o| format!("{:.0} /s", o.deliveries_rate));
    row(&mut out, "to the last member, p50 / p99", &|o| format!("{} / {}", ms(o.to_last.p50()), ms(o.to_last.p99())));
    row(&mut out, "to each member, p50 / p99", &|o| format!("{} / {}", ms(o.to_each.p50()), ms(o.to_each.p99())));
    row(&mut out, "messages reaching every member", &|o| format!("{} of {}", o.complete, o.sent));
    row(&mut out, "duplicated deliveries", &|o| o.duplicates.to_string());
    row(&mut out, "Redis PUBLISH per message", &|o| format!("{:.2}", o.publishes_per_message));
    row(&mut out, "**CPU per delivery, all processes**", &|o| format!("**{}**", us(o.cpu_per_delivery())));
    let mut programs: Vec<&str> = Vec::new();
    for (_, o) in columns {
        for (name, _) in &o.cpu {
            if !programs.contains(&name.as_str()) {
                programs.push(name);
            }
        }
    }
    for program in programs {
        row(&mut out, &format!("… {program}"), &|o| us(o.cpu_of(|name| name == program)));
    }
    out
}

/// What 1,000 groups of 1,000 members, each at one message every 10 seconds (100,000
/// deliveries/s), would take, from this run's per-delivery and per-message figures: a first
/// sizing, linear, before any headroom.
fn capacity_model(group: &Outcome) -> String {
    const DELIVERIES: f64 = 100_000.0;
    let messages = DELIVERIES / (group.load.members - 1) as f64;
    let cores = |program: &str| group.cpu_of(|name| name == program).as_secs_f64() * DELIVERIES;
    format!(
        "Capacity model for groups, from the group of {} (linear, no headroom): 1,000 such groups, \
         each at a message every 10 s, are {DELIVERIES:.0} deliveries/s from {messages:.0} messages/s.\n\n\
         | part | measured here | for {DELIVERIES:.0} deliveries/s |\n| --- | --- | --- |\n\
         | gateway CPU | {} per delivery | {:.1} cores |\n\
         | Redis | {:.2} publishes per message, {} CPU per delivery | {:.0} publishes/s, {:.2} cores |\n\
         | Postgres | {} per delivery | {:.2} cores |\n\n\
         A group's fan-out costs the gateways (one write per member connection) and hardly the \
         bus: Redis carries one publish per message whatever the group's size.",
        group.load.members,
        us(group.cpu_of(|name| name == "chat-gateway")),
        cores("chat-gateway"),
        group.publishes_per_message,
        us(group.cpu_of(|name| name == "redis-server")),
        messages * group.publishes_per_message,
        cores("redis-server"),
        us(group.cpu_of(|name| name == "postgres")),
        cores("postgres"),
    )
}

#[tokio::main]
async fn main() {
    if !bench::invoked_by_cargo_bench() {
        println!("the group benchmark runs with scripts/bench");
        return;
    }
    let redis_port = bench::env("BENCH_CHAT_REDIS_PORT");
    let peer_dir = bench::env("BENCH_SOCKETIO_PEER");
    let (warmup, seconds) = (setting("BENCH_WARMUP_SECONDS", 5), setting("BENCH_SECONDS", 20));
    let small =
        Load { members: setting("BENCH_GROUP", 1000) as usize, rate: setting("BENCH_GROUP_RATE", 10), warmup, seconds };
    let large = Load {
        members: setting("BENCH_LARGE_GROUP", 10_000) as usize,
        rate: setting("BENCH_LARGE_GROUP_RATE", 1),
        warmup,
        seconds,
    };
    let (url, users) = seed::users("chat_suite_bench_groups", small.members.max(large.members)).await;
    let key = SigningKey::generate().unwrap();
    let issuer = TokenIssuer::new(
        SigningKey::from_pem(key.to_pem()).unwrap(),
        TokenSettings { issuer: "chat-suite".into(), audience: "chat-suite".into() },
        Duration::from_secs(3600),
    );
    let tokens: Vec<String> =
        users.iter().enumerate().map(|(i, id)| issuer.issue(*id, &format!("bench{i}")).unwrap()).collect();

    let data_dir = std::env::temp_dir().display().to_string();
    let auth_env =
        [("DATABASE_URL", url.clone()), ("DATA_DIR", data_dir.clone()), ("JWT_SIGNING_KEY", key.to_pem().to_owned())];
    let _auth = Process::start(&bench::env("AUTH_API_BIN"), 18281, &auth_env);
    let redis_url = format!("redis://127.0.0.1:{redis_port}");
    // Every setting as shipped but the group limit, raised for the large group.
    let gateway_env = [
        ("DATABASE_URL", url.clone()),
        ("DATA_DIR", data_dir),
        ("REDIS_URL", redis_url.clone()),
        ("JWKS_URL", "http://127.0.0.1:18281/.well-known/jwks.json".to_owned()),
        ("GROUP_MAX_MEMBERS", large.members.max(small.members).to_string()),
    ];
    let bin = bench::env("CHAT_GATEWAY_BIN");
    let first = Process::start(&bin, 18283, &gateway_env);
    let second = Process::start(&bin, 18284, &gateway_env);
    let peer = |port: u16| {
        let mut node = Command::new("node");
        node.arg(format!("{peer_dir}/server.cjs")).arg(port.to_string()).arg(&redis_url);
        Process::spawn(node, port)
    };
    let (peer_a, peer_b) = (peer(18390), peer(18391));
    let ours = Target {
        wire: Wire::Chat,
        ports: [18283, 18284],
        servers: [first.pid(), second.pid()],
        program: "chat-gateway",
    };
    let theirs = Target {
        wire: Wire::SocketIo,
        ports: [18390, 18391],
        servers: [peer_a.pid(), peer_b.pid()],
        program: "node (Socket.IO peer)",
    };

    let mut outcomes = Vec::new();
    for load in [small, large] {
        let (tokens, ids) = (&tokens[..load.members], &users[..load.members]);
        let chat = make_group(18283, tokens, ids).await;
        let sockets = connect_all(&ours, tokens, &chat).await;
        let chat_suite = deliver(&ours, sockets, &chat, load, &redis_port).await;
        let room = format!("group:{}", load.members);
        let sockets = connect_all(&theirs, tokens, &room).await;
        let peer_outcome = deliver(&theirs, sockets, &room, load, &redis_port).await;
        outcomes.push((chat_suite, peer_outcome));
    }
    // A goal missed: the machine's profile under the large group's load, ours alone.
    let missed = outcomes.iter().any(|(ours, peer)| {
        ours.to_last.p99() > peer.to_last.p99() || ours.cpu_per_delivery() > peer.cpu_per_delivery()
    });
    let profile = if missed {
        let load = Load { warmup: 2, seconds: 8, ..large };
        let (tokens, ids) = (&tokens[..load.members], &users[..load.members]);
        let chat = make_group(18283, tokens, ids).await;
        let sockets = connect_all(&ours, tokens, &chat).await;
        Some(
            Profile::during(
                Duration::from_secs(3),
                Duration::from_secs(6),
                deliver(&ours, sockets, &chat, load, &redis_port),
            )
            .await,
        )
    } else {
        None
    };

    let mut report = Report::new(
        "5-chat-groups",
        "chat-gateway: group delivery across two replicas next to Socket.IO rooms",
        format!(
            "`scripts/bench groups` → `services/chat-gateway/benches/groups.rs`. A fresh \
             `chat_suite_bench_groups` database, a Redis server of the benchmark's own, the release \
             `auth-api` (for the JWKS) and two release `chat-gateway` processes, every setting as \
             shipped but `GROUP_MAX_MEMBERS`; next to them the Socket.IO peer: two Node processes \
             of `testkit/socketio-peer/server.cjs` (Socket.IO 4 with `@socket.io/redis-adapter` on \
             the same Redis; a group is a room its members' sockets join, a message one \
             `io.to(room).emit`; it stores nothing). The load generator is the benchmark's \
             process, the same code for both: member i connects to process i mod 2; the first \
             {SENDERS} members send in turn, each message carrying its send time; every other \
             member records its arrival. Groups: {} members at {} messages/s, then {} members at \
             {} messages/s; {warmup} s of warm-up, {seconds} s measured. Latency: from a send to \
             its arrival at the last member (and at each). CPU: user and system time of every \
             process of each system (servers, every PostgreSQL process, Redis, the load \
             generator) from `/proc` over the measured window, per delivery (one message to one \
             member). Redis: its `PUBLISH` calls over the window (`INFO commandstats`) per message.",
            small.members, small.rate, large.members, large.rate
        ),
    );
    for (ours, peer) in &outcomes {
        let members = ours.load.members;
        let p99_met = ours.to_last.p99() <= peer.to_last.p99();
        let cpu_ratio = ours.cpu_per_delivery().as_secs_f64() / peer.cpu_per_delivery().as_secs_f64().max(1e-9);
        report
            .row(Row {
                measure: format!("group of {members}: p99 from a send to the last member, against the peer's"),
                figure: ms(ours.to_last.p99()),
                ceiling: format!("{} (peer)", ms(peer.to_last.p99())),
                ratio: percent(ours.to_last.p99().as_secs_f64() / peer.to_last.p99().as_secs_f64().max(1e-9)),
                goal: "≤ 100 %".into(),
                met: Some(p99_met),
            })
            .row(Row {
                measure: format!("group of {members}: CPU per delivery, all processes, against the peer's"),
                figure: us(ours.cpu_per_delivery()),
                ceiling: format!("{} (peer)", us(peer.cpu_per_delivery())),
                ratio: format!("{cpu_ratio:.2}×"),
                goal: "≤ 1×".into(),
                met: Some(cpu_ratio <= 1.0),
            })
            .row(Row {
                measure: format!("group of {members}: Redis publishes per message"),
                figure: format!("{:.2}", ours.publishes_per_message),
                ceiling: format!("{:.2} (peer); 2 replicas", peer.publishes_per_message),
                ratio: String::new(),
                goal: "≤ 2 (the replicas)".into(),
                met: Some(ours.publishes_per_message <= 2.0),
            })
            .row(Row {
                measure: format!("group of {members}: messages reaching every member, duplicates"),
                figure: format!("{} of {}, {} duplicated", ours.complete, ours.sent, ours.duplicates),
                ceiling: format!("{} of {}, {} duplicated (peer)", peer.complete, peer.sent, peer.duplicates),
                ratio: String::new(),
                goal: "all, none".into(),
                met: Some(ours.complete == ours.sent && ours.duplicates == 0),
            });
    }
    for (ours, peer) in &outcomes {
        report.extra(format!(
            "A group of {} at {} messages/s ({} s measured); CPU is time on one core per delivery:\n\n{}",
            ours.load.members,
            ours.load.rate,
            ours.load.seconds,
            side_by_side(&[("chat-suite /chat", ours), ("Socket.IO peer", peer)])
        ));
    }
    if let Some((ours, _)) = outcomes.first() {
        report.extra(capacity_model(ours));
    }
    report.explanation(include_str!("groups.md"));
    if let Some(profile) = profile {
        report.profile(profile);
    }
    drop((peer_a, peer_b, first, second));
    report.write();
}
