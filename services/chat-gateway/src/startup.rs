//! Building chat-gateway: `ChatService` (which `chat-suite` mounts too) and the application
//! that serves it alone.

use std::{sync::Arc, time::Duration};

use poem::{Endpoint, EndpointExt, Response};
use poem_openapi::{OpenApi, OpenApiService};
use shared::{
    config::CommonConfig,
    http::{GetRoutes, Plumbing},
    jwks::JwksClient,
    outbox::Wakeup,
    read_replica::Reads,
    readiness::Dependency,
    server::{Application, Listener, Mount},
    tokens::{KeySource, TokenVerifier},
};

pub use crate::transport::asyncapi::Binary as AsyncApiBinary;
use crate::{
    accounts,
    config::{ChatSettings, Cli},
    deleted_accounts::DeletedAccounts,
    metrics::GatewayMetrics,
    node::{ConnectionSlots, Node, NodeTasks, PresenceAudience},
    state::ChatState,
    store::{presence_reach, writer::Writer},
    transport::{asyncapi, rest, socketio::SocketIoServer, websocket},
};

pub struct ChatService {
    state: Arc<ChatState>,
    pub dependencies: Vec<Dependency>,
    /// What the node runs beside the server, until [`ChatService::start`] starts it.
    node_tasks: Option<NodeTasks>,
    socketio: Arc<SocketIoServer>,
    /// Socket.IO beside the routes, until [`ChatService::start`] mounts it.
    socketio_mount: Option<Mount>,
}

impl ChatService {
    /// With `REDIS_URL`, rooms and presence span replicas (and Redis must answer now);
    /// without, this process is the only replica.
    pub async fn build(
        reads: Reads,
        keys: KeySource,
        common: &CommonConfig,
        settings: &ChatSettings,
        wakeup: Option<Wakeup>,
    ) -> anyhow::Result<Self> {
        settings.validate(common)?;
        let redis = common.redis()?;
        let metrics = Arc::new(GatewayMetrics::new()?);
        let capacity = ConnectionSlots::replica_capacity(settings, common);
        metrics.connection_capacity.set(i64::try_from(capacity).unwrap_or(i64::MAX));
        let db = reads.primary().clone();
        let mut dependencies = Dependency::databases(&reads);
        if let KeySource::Remote(client) = &keys {
            dependencies.push(Dependency::Jwks(client.clone()));
        }
        let ttl = Duration::from_secs(settings.presence_ttl_seconds);
        let (node, node_tasks) = Node::build(redis.as_ref(), ttl, chat_peers(&db), metrics.clone()).await?;
        dependencies.extend(node.dependency());
        let state = Arc::new(ChatState {
            writer: Writer::start(db.clone(), settings.message_durability, metrics.clone()),
            node,
            db,
            reads,
            slots: ConnectionSlots::new(settings.ws_connections_per_user as usize, capacity),
            verifier: Arc::new(TokenVerifier::new(keys, &common.tokens)),
            settings: settings.clone(),
            origins: common.cors_allowed_origins.clone(),
            metrics,
            wakeup,
            deleted: DeletedAccounts::default(),
        });
        let (socketio, mount) = SocketIoServer::new(&state);
        Ok(Self {
            state,
            dependencies,
            node_tasks: Some(node_tasks),
            socketio: Arc::new(socketio),
            socketio_mount: Some(mount),
        })
    }

    /// The WebSocket route and its AsyncAPI document (naming `binary`, which serves them),
    /// beside the REST routes of [`rest::apis`].
    pub fn socket_routes(&self, binary: AsyncApiBinary) -> GetRoutes {
        GetRoutes::default().get("/chat", websocket::chat).get("/asyncapi.json", asyncapi::endpoint(binary))
    }

    /// Puts the state and the token verifier into the request data the handlers read.
    pub fn provide<E: Endpoint<Output = Response> + 'static>(
        &self,
        ep: E,
    ) -> impl Endpoint<Output = Response> + use<E> {
        ep.data(self.state.clone()).data(self.state.verifier.clone())
    }

    /// Mounts Socket.IO at `/socket.io/` and starts what runs beside the server: the broker,
    /// presence upkeep, the watch for deleted accounts, and the drain that on SIGTERM closes every `/chat` socket with 1012
    /// and every Socket.IO connection with Engine.IO's `close` (both then reconnect elsewhere).
    pub fn start(&mut self, app: &mut Application, plumbing: &Plumbing) -> anyhow::Result<()> {
        self.state.metrics.register(plumbing.metrics.registry())?;
        self.state.reads.register(plumbing.metrics.registry())?;
        let reads = self.state.reads.clone();
        app.spawn_background(move |stopping| reads.watch(stopping));
        if let Some(mount) = self.socketio_mount.take() {
            app.mount(mount);
        }
        let socketio = self.socketio.clone();
        app.spawn_background(move |mut stopping| async move {
            stopping.wait().await;
            socketio.drain().await;
        });
        if let Some(tasks) = self.node_tasks.take() {
            tasks.start(app);
        }
        let state = self.state.clone();
        app.spawn_background(move |stopping| accounts::watch(state, stopping));
        Ok(())
    }
}

/// A user's presence is told to those who share a private chat with them, and in their small
/// groups' rooms.
fn chat_peers(db: &sea_orm::DatabaseConnection) -> PresenceAudience {
    let db = db.clone();
    Box::new(move |user| {
        let db = db.clone();
        Box::pin(async move {
            let audience = presence_reach::reach(&db, user).await?;
            Ok((audience.peers, audience.groups))
        })
    })
}

/// chat-gateway alone: keys from auth-api's JWKS.
pub async fn build(cli: &Cli) -> anyhow::Result<Application> {
    let jwks = JwksClient::required(cli.jwks_url.as_deref())?;
    cli.reads.validate(&cli.common)?;
    cli.chat.validate(&cli.common)?;
    // The port before the database: a busy one must not leave a new DATA_DIR behind.
    let listener = Listener::bind("chat-gateway", cli.listen_addr).await?;
    let db = shared::db::prepare(&cli.common).await?;
    let reads = Reads::new(db, &cli.reads, cli.common.database_max_connections).await?;
    let mut service = ChatService::build(reads, KeySource::Remote(jwks), &cli.common, &cli.chat, None).await?;
    let plumbing = Plumbing::new(service.dependencies.clone(), cli.common.cors_allowed_origins.clone());
    let app = service.provide(plumbing.app_with(openapi(), service.socket_routes(AsyncApiBinary::Gateway)));
    let mut app = listener.serve(app, (&cli.common).into());
    service.start(&mut app, &plumbing)?;
    Ok(app)
}

pub fn openapi() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(rest::apis(), "chat-gateway", env!("CARGO_PKG_VERSION")).description(SOCKET_DOCS)
}

/// Where the OpenAPI document (and so Swagger UI at `/docs`) sends readers for the WebSocket,
/// which OpenAPI cannot describe. chat-suite's document says the same.
pub const SOCKET_DOCS: &str = "The `/chat` WebSocket and Socket.IO (namespace `/chat` at `/socket.io/`): their \
                               events, payloads, error and close codes are described by their AsyncAPI document: \
                               [/asyncapi.json](/asyncapi.json).";

/// The AsyncAPI document of `/chat`, as chat-gateway's `GET /asyncapi.json` serves it.
pub fn asyncapi() -> String {
    asyncapi::document(AsyncApiBinary::Gateway)
}
