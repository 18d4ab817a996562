//! The end-to-end stage behind a real proxy (`scripts/e2e` runs it): nginx configured as
//! ingress-nginx from the chart's rendered Ingress objects, two pods of each service behind
//! it on Postgres, Redis and a Kafka-protocol broker, and clients that talk only to nginx.
//! It checks the routes, the WebSocket upgrade and timeouts and the rate limits through the
//! proxy, then rolls every service one pod at a time under a steady load, first with the
//! chart's preStop sleep and then without, and prints what the clients saw.

mod chat;
mod checks;
mod client;
mod console;
mod events;
mod figures;
mod plan;
mod pods;
mod process;
mod proxy;
mod report;
mod traffic;
mod users;

use std::{
    collections::BTreeMap,
    net::{IpAddr, Ipv4Addr},
    path::PathBuf,
    process::ExitCode,
    sync::Arc,
    time::{Duration, Instant},
};

use clap::Parser;
use tokio::sync::watch;

use crate::{
    chat::{Member, Pair, Progress},
    client::{Client, address_of},
    console::{say, step},
    figures::Figures,
    plan::Plan,
    pods::{COMPONENTS, Cluster, Supplied},
    proxy::Proxy,
    report::{Phase, Report},
    users::User,
};

/// The longest a closed socket may take to be back, in the rollout with the chart's preStop.
const RECONNECT_LIMIT: Duration = Duration::from_secs(5);

#[derive(Parser)]
#[command(about = "The end-to-end stage behind nginx; scripts/e2e prepares and runs it.")]
struct Args {
    /// What scripts/ingress_nginx.py wrote: nginx.conf, plan.json, runtime/.
    #[arg(long)]
    proxy_dir: PathBuf,
    /// Where the auth-api, user-search and chat-gateway binaries are.
    #[arg(long)]
    bin_dir: PathBuf,
    /// Pairs of users chatting during the rollouts.
    #[arg(long, default_value_t = 50)]
    pairs: u32,
    /// Clients registering, logging in and looking up at once.
    #[arg(long, default_value_t = 4)]
    workers: u32,
    /// Seconds of load before the first rollout and between the two.
    #[arg(long, default_value_t = 10)]
    settle_seconds: u64,
    /// Writes soak.md and soak.summary here, for BENCHMARKS.md (scripts/bench soak).
    #[arg(long)]
    report_dir: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ingress-e2e: FAILED: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn local(a: u8, b: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, a, 0, b))
}

async fn run(args: &Args) -> anyhow::Result<()> {
    step("Postgres database, Redis, the broker; the migration; two pods of each service; nginx");
    let plan = Plan::load(&args.proxy_dir.join("plan.json"))?;
    let work = tempfile::tempdir()?;
    let database = testkit::TestDatabase::empty_postgres("chat_suite_e2e_").await;
    let redis = testkit::redis_server::RedisServer::start();
    let broker = testkit::broker::Broker::start();
    let key_file = work.path().join("jwt-signing-key.pem");
    std::fs::write(&key_file, auth_api::tokens::SigningKey::generate()?.to_pem())?;
    let mut extra_env = BTreeMap::from([
        ("KAFKA_BROKERS".into(), broker.address()),
        ("JWT_SIGNING_KEY_FILE".into(), key_file.display().to_string()),
    ]);
    // The chart's log level unless a run asks for more (the pods' logs are kept on failure).
    if let Ok(level) = std::env::var("E2E_RUST_LOG") {
        extra_env.insert("RUST_LOG".into(), level);
    }
    let supplied = Supplied {
        bin_dir: args.bin_dir.clone(),
        work: work.path().to_owned(),
        secrets: BTreeMap::from([("DATABASE_URL".into(), database.url.clone()), ("REDIS_URL".into(), redis.url())]),
        extra_env,
    };
    let proxy = Proxy::start(&args.proxy_dir, &plan).await?;
    let address = proxy.address.clone();
    let cluster = Arc::new(Cluster::start(plan, supplied, proxy).await?);
    let outcome = exercise(args, &cluster, &address, &broker).await;
    if outcome.is_err() {
        eprintln!("ingress-e2e: the pods' logs and nginx's error log: {}", work.path().display());
        std::mem::forget(work);
    }
    cluster.stop().await;
    drop(database);
    outcome
}

async fn exercise(
    args: &Args,
    cluster: &Arc<Cluster>,
    proxy: &str,
    broker: &testkit::broker::Broker,
) -> anyhow::Result<()> {
    let figures = Arc::new(Figures::default());
    let pods_of = |port: u16| cluster.component_at(port);
    let plan = cluster.plan();
    let checker = Client::new(proxy, local(2, 1), figures.clone())?;

    step("every contract route through the proxy");
    let routes = checks::routes(&checker, plan, proxy, local(2, 1), &pods_of).await?;
    say(&routes);
    let timeouts = checks::timeouts(plan)?;
    say(&timeouts);

    step("rate limits keyed by the client's address (TRUSTED_PROXY_HOPS from the chart)");
    let limited = Client::new(proxy, local(3, 1), figures.clone())?;
    let other = Client::new(proxy, local(3, 2), figures.clone())?;
    let limits = checks::rate_limits(&limited, &other, local(3, 1), &pods_of).await?;
    say(&limits);

    step(&format!("load: {} pairs chatting, {} clients registering and looking up", args.pairs, args.workers));
    let (pairs, known) = make_pairs(proxy, args.pairs, &figures).await?;
    let idle_user = User::register(&checker, "e2e_idle").await?;
    let idle = checks::IdleSocket::open(proxy, local(4, 1), &idle_user.access).await?;
    let idle_since = Instant::now();
    let (stop, stopped) = watch::channel(false);
    let load_started = Instant::now();
    let mut members = Vec::new();
    for pair in &pairs {
        for me in 0..2 {
            members.push(tokio::spawn(chat::run_member(
                proxy.to_owned(),
                pair.clone(),
                me,
                figures.clone(),
                stopped.clone(),
                Duration::from_secs(30),
            )));
        }
    }
    let known = Arc::new(known);
    let workers: Vec<_> = (0..args.workers)
        .map(|n| {
            tokio::spawn(traffic::run(
                proxy.to_owned(),
                n,
                100_000 * (n + 1),
                known.clone(),
                figures.clone(),
                stopped.clone(),
            ))
        })
        .collect();
    let settle = Duration::from_secs(args.settle_seconds);
    tokio::time::sleep(settle).await;
    let split = pairs.iter().filter(|p| p.progress.split()).count();
    anyhow::ensure!(split > 0, "no pair is split across the gateway pods: nothing crosses replicas");
    let split = format!("{split} of {} pairs have their members on different gateway pods", pairs.len());
    say(&split);

    let ping = plan.component("chat-gateway")?.setting("WS_PING_INTERVAL_SECONDS")?;
    let mut idle = Some(idle);
    let mut idle_line = String::new();
    let mut phases = Vec::new();
    for chart_pre_stop in [true, false] {
        let label = if chart_pre_stop { "with the chart's preStop sleep" } else { "without a preStop sleep" };
        step(&format!("rolling restart of every service, one pod at a time, {label}"));
        let from = Instant::now();
        let mut pre_stops = Vec::new();
        for component in COMPONENTS {
            if component == "chat-gateway"
                && let Some(idle) = idle.take()
            {
                // Two ping intervals of idleness through the proxy before the gateways go.
                let wanted = Duration::from_secs(2 * ping + 5);
                tokio::time::sleep(wanted.saturating_sub(idle_since.elapsed())).await;
                let pings = idle.finish().await?;
                anyhow::ensure!(pings >= 2, "an idle socket saw {pings} pings in {} s", idle_since.elapsed().as_secs());
                idle_line = format!(
                    "an idle socket stayed open {} s through the proxy ({pings} pings)",
                    idle_since.elapsed().as_secs()
                );
                say(&idle_line);
            }
            let spec = plan.component(component)?;
            let pre_stop = if chart_pre_stop { spec.pre_stop() } else { Duration::ZERO };
            pre_stops.push(format!("{component} {} s", pre_stop.as_secs()));
            cluster.roll(component, pre_stop).await?;
        }
        tokio::time::sleep(settle).await;
        let summary = figures.between(from, Instant::now());
        phases.push(Phase { label: label.to_owned(), pre_stops: pre_stops.join(", "), took: from.elapsed(), summary });
    }

    step("load stopped; every message accounted for");
    let _ = stop.send(true);
    let mut tallies = Vec::new();
    for member in members {
        tallies.push(member.await?);
    }
    let mut clients = 0;
    for worker in workers {
        clients += worker.await?;
    }
    let whole = figures.between(load_started, Instant::now());

    step("notification events: every registration on Kafka");
    let topic = plan
        .component("auth-api")?
        .env
        .get("NOTIFICATIONS_TOPIC")
        .cloned()
        .unwrap_or_else(|| "received_messages".into());
    let registered = figures.registered_users();
    let relayed = events::registrations(broker, &topic, &registered, Duration::from_secs(60)).await;
    let missing_events = registered.difference(&relayed).count();
    let events = format!(
        "{} of {} registrations reached Kafka as user.registered events (topic {topic})",
        registered.len() - missing_events,
        registered.len()
    );
    say(&events);
    let report = Report {
        pairs: pairs.len(),
        workers: args.workers,
        clients,
        sent: tallies.iter().map(|t| t.sent).sum(),
        received: tallies.iter().map(|t| t.received).sum(),
        checks: vec![routes, timeouts, idle_line, limits, split, events],
        missing_events,
        phases,
        whole,
        reconnect_limit: RECONNECT_LIMIT,
    };
    report.print();
    if let Some(dir) = &args.report_dir {
        report.write(dir)?;
    }
    report.verdict()
}

/// Registers `2 × n` users through the proxy and gives each pair its chat.
async fn make_pairs(proxy: &str, n: u32, figures: &Arc<Figures>) -> anyhow::Result<(Vec<Arc<Pair>>, Vec<String>)> {
    let mut pairs = Vec::new();
    let mut known = Vec::new();
    for i in 0..n {
        let mut members = Vec::new();
        for side in 0..2 {
            let from = address_of(10_000 + 2 * i + side);
            let user = User::register(&Client::new(proxy, from, figures.clone())?, "e2e_chat").await?;
            known.push(user.username.clone());
            members.push(Member { user_id: user.user_id.parse()?, token: user.access, from });
        }
        let [a, b]: [Member; 2] = members.try_into().map_err(|_| anyhow::anyhow!("a pair has two members"))?;
        let (mut ws, _) = chat::open(proxy, a.from, &a.token, "").await?;
        let chat_id = chat::start_chat(&mut ws, &b.user_id.to_string()).await?;
        let _ = futures_util::SinkExt::close(&mut ws).await;
        pairs.push(Arc::new(Pair { chat_id, members: [a, b], progress: Arc::new(Progress::default()) }));
    }
    Ok((pairs, known))
}
