//! chat-suite: every built service in one process on one port, with the paths a client sees
//! behind the ingress. With no environment at all it runs on the embedded default: SQLite in
//! ./data/, in-process rate limits, events waiting in the outbox. It also serves a small web
//! client at `/` (`web.rs`), the newcomer's first look at the whole working. With a push provider
//! configured it pushes too: the notifier runs here, on the topic or fed by the outbox relay.

mod web;

use std::{net::SocketAddr, process::ExitCode};

use auth_api::{
    config::{AuthSettings, Command},
    startup::AuthService,
};
use chat_gateway::{
    config::ChatSettings,
    startup::{AsyncApiBinary, ChatService},
};
use clap::Parser;
use notifier::{config::NotifierSettings, startup::NotifierService};
use poem_openapi::{OpenApi, OpenApiService};
use shared::{
    config::CommonConfig,
    http::Plumbing,
    outbox::relay::RelaySettings,
    read_replica::Reads,
    server::{Application, Listener},
    tokens::KeySource,
};
use user_search::{config::SearchSettings, startup::SearchService};

#[derive(Debug, Parser)]
#[command(
    name = "chat-suite",
    version,
    about = "chat-suite: every service in one process, for local use",
    args_override_self = true
)]
struct Cli {
    /// host:port to bind.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8080")]
    listen_addr: SocketAddr,

    #[command(flatten)]
    common: CommonConfig,

    #[command(flatten)]
    auth: AuthSettings,

    #[command(flatten)]
    relay: RelaySettings,

    #[command(flatten)]
    search: SearchSettings,

    #[command(flatten)]
    chat: ChatSettings,

    #[command(flatten)]
    notifier: NotifierSettings,

    #[command(subcommand)]
    command: Option<Command>,
}

/// Every service's routes joined in one OpenAPI document; `/chat` has its AsyncAPI document
/// (`GET /asyncapi.json`, among the gateway's socket routes).
fn openapi() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(
        (auth_api::routes::apis(), user_search::routes::apis(), chat_gateway::apis()),
        "chat-suite",
        env!("CARGO_PKG_VERSION"),
    )
    .description(chat_gateway::startup::SOCKET_DOCS)
}

async fn build(cli: &Cli) -> anyhow::Result<Application> {
    cli.chat.validate(&cli.common)?;
    // A notifier runs here when a provider is configured; its keys are read before anything.
    let providers = match cli.notifier.any_provider(&cli.auth.webpush) {
        true => Some(notifier::startup::providers(&cli.notifier, &cli.auth.webpush)?),
        false => None,
    };
    // The port before anything is created: on a busy one, `./data`, its signing key and its
    // database used to be made first, and left behind by a start that never served.
    let listener = Listener::bind("chat-suite", cli.listen_addr).await?;
    let auth = AuthService::build(&cli.common, &cli.auth).await?;
    // One database pool and the in-process keys serve every service here.
    let db = auth.state.db.clone();
    let keys = || KeySource::Local(auth.state.keys.clone());
    // Local use: no read replica.
    let reads = Reads::primary_only(db);
    let search = SearchService::new(reads.clone(), keys(), &cli.common.tokens, &cli.search);
    let wakeup = Some(auth.state.outbox.clone());
    let mut chat = ChatService::build(reads, keys(), &cli.common, &cli.chat, wakeup).await?;
    let mut dependencies = auth.dependencies.clone();
    for dependency in &chat.dependencies {
        if !dependencies.iter().any(|d| d.name() == dependency.name()) {
            dependencies.push(dependency.clone());
        }
    }
    let plumbing = Plumbing::new(dependencies, cli.common.cors_allowed_origins.clone());
    let routes = plumbing.app_with(openapi(), web::routes(chat.socket_routes(AsyncApiBinary::Suite)));
    let app = chat.provide(search.provide(auth.provide(routes, &cli.common)));
    let mut app = listener.serve(app, (&cli.common).into());
    let local = match providers {
        Some(providers) => {
            let notifier = NotifierService::new(providers, &cli.notifier, auth.state.db.clone(), &plumbing.metrics)?;
            match &cli.relay.kafka.kafka_brokers {
                Some(brokers) => {
                    notifier.start(&mut app, brokers, &cli.relay.kafka, &cli.notifier)?;
                    None
                }
                None => Some(notifier.start_in_process(&mut app)),
            }
        }
        None => None,
    };
    auth.start_relay(&mut app, &cli.relay, &plumbing.metrics, local)?;
    search.start(&mut app, &plumbing)?;
    chat.start(&mut app, &plumbing)?;
    Ok(app)
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.clone() {
        None | Some(Command::Serve) => {
            let stop = shared::server::termination_signal();
            let app = build(&cli).await?;
            let page = web::page_url(SocketAddr::new(cli.listen_addr.ip(), app.port()));
            tracing::info!("chat-suite ready: open {page} (API docs: {page}docs)");
            app.run_until_stopped(stop).await?
        }
        Some(Command::Openapi) => println!("{}", shared::http::openapi_document(&openapi())),
        Some(other) => auth_api::run_command(other, &cli.common).await?,
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli: Cli = shared::config::parse_or_exit();
    let _telemetry = match shared::telemetry::init("chat-suite", cli.common.otlp_endpoint.as_deref()) {
        Ok(telemetry) => telemetry,
        Err(err) => shared::config::exit_with_config_error(&err),
    };
    shared::run_main(run(cli)).await
}
