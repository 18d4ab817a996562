//! Serving an app on a bound listener until SIGTERM or SIGINT (or the caller's own shutdown
//! signal, in tests), then letting in-flight requests finish within the grace period.
//!
//! The connection loop is ours rather than `poem::Server`'s because poem gives hyper no timer,
//! so hyper cannot time out a request's headers: a client sending them a byte at a time held
//! its connection for ever.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use hyper_util::{
    rt::{TokioExecutor, TokioIo, TokioTimer},
    server::{conn::auto, graceful::GracefulShutdown},
};
use poem::{
    Addr, Endpoint, EndpointExt,
    endpoint::BoxEndpoint,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::net::TcpListener;

use crate::config::CommonConfig;

mod accept_failures;
pub mod descriptors;
mod linger;
mod mount;

use accept_failures::AcceptFailures;
use linger::Lingering;
pub use mount::Mount;

/// How connections are served: the grace period after a stop, and how long a client may take
/// to send a request's headers.
#[derive(Debug, Clone, Copy)]
pub struct Serving {
    pub grace: Duration,
    pub header_read_timeout: Duration,
}

impl From<&CommonConfig> for Serving {
    fn from(common: &CommonConfig) -> Self {
        Self {
            grace: Duration::from_secs(common.shutdown_grace_seconds),
            header_read_timeout: Duration::from_secs(common.header_read_timeout_seconds),
        }
    }
}

/// HTTP/2 limits as poem sets them (a client resetting streams faster than this is cut off).
const HTTP2_MAX_PENDING_RESETS: usize = 20;
const HTTP2_MAX_HEADER_LIST_BYTES: u32 = 16 * 1024;

/// Serves `app`, and each of `mounts` under its own path, on `listener`.
pub async fn serve(
    listener: TcpListener,
    app: impl Endpoint<Output = poem::Response> + 'static,
    mounts: Vec<Mount>,
    shutdown: impl Future<Output = ()> + Send,
    serving: Serving,
) -> std::io::Result<()> {
    let app: Arc<BoxEndpoint<'static, poem::Response>> = Arc::new(app.boxed());
    let mounts: Arc<[Mount]> = mounts.into();
    let local = listener.local_addr()?;
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder.http1().timer(TokioTimer::new()).header_read_timeout(serving.header_read_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_pending_accept_reset_streams(HTTP2_MAX_PENDING_RESETS)
        .max_header_list_size(HTTP2_MAX_HEADER_LIST_BYTES);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    let mut failures = AcceptFailures::default();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    failures.accepted();
                    accepted
                }
                // Out of file descriptors, or a connection reset before it was accepted: the
                // listener itself is fine.
                Err(err) => {
                    let wait = failures.failed(&err);
                    tokio::select! {
                        () = tokio::time::sleep(wait) => continue,
                        () = &mut shutdown => break,
                    }
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let (app, mounts) = (app.clone(), mounts.clone());
        let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
            let (app, mounts) = (app.clone(), mounts.clone());
            async move {
                if let Some(mount) = mounts.iter().find(|m| m.serves(req.uri().path())) {
                    return Ok::<_, Infallible>(mount.call(req).await);
                }
                let response = app.get_response(poem_request(req, local, peer)).await;
                Ok(hyper::Response::<ResponseBody>::from(response))
            }
        });
        let connection =
            builder.serve_connection_with_upgrades(TokioIo::new(Lingering::new(stream)), service).into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(err) = connection.await {
                tracing::debug!(error = %err, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(serving.grace, graceful.shutdown()).await.is_err() {
        tracing::warn!("requests still in flight at the end of the grace period");
    }
    Ok(())
}

/// What poem turns its responses into for hyper.
type ResponseBody = http_body_util::combinators::BoxBody<bytes::Bytes, std::io::Error>;

/// hyper's request as poem's, with the addresses poem's extractors read.
fn poem_request(req: hyper::Request<hyper::body::Incoming>, local: SocketAddr, peer: SocketAddr) -> poem::Request {
    let (local, remote) = (LocalAddr(Addr::SocketAddr(local)), RemoteAddr(Addr::SocketAddr(peer)));
    poem::Request::from((req, local, remote, Scheme::HTTP))
}

/// Resolves on the first SIGTERM (Kubernetes stopping the pod) or SIGINT (Ctrl-C).
///
/// The handlers are installed when this is called, not when the future is first polled: call it
/// before binding, or a SIGTERM that arrives while the server starts kills the process the
/// default way instead of stopping it cleanly.
pub fn termination_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                (term, int) => {
                    tracing::error!(term = ?term.err(), int = ?int.err(), "cannot listen for SIGTERM/SIGINT");
                    std::future::pending::<()>().await;
                }
            }
            tracing::info!("shutting down");
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    }
}

/// The service's port, bound first: a port another process holds stops the start-up before
/// anything is created (DATA_DIR, a signing key, a database), not after.
pub struct Listener {
    name: &'static str,
    listener: TcpListener,
}

impl Listener {
    /// Binds `addr`; the error is one line naming `LISTEN_ADDR`.
    pub async fn bind(name: &'static str, addr: SocketAddr) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("LISTEN_ADDR: cannot bind {addr}: {e}"))?;
        Ok(Self { name, listener })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// `app` on this listener, ready to run.
    pub fn serve(self, app: impl Endpoint<Output = poem::Response> + 'static, serving: Serving) -> Application {
        match self.listener.local_addr() {
            Ok(addr) => tracing::info!(%addr, "{} listening", self.name),
            Err(err) => tracing::warn!(error = %err, "{} listening on an address it cannot name", self.name),
        }
        let (stop, _) = tokio::sync::watch::channel(false);
        Application {
            listener: self.listener,
            app: app.boxed(),
            mounts: Vec::new(),
            serving,
            stop,
            background: Vec::new(),
        }
    }
}

/// A service (or the whole suite) ready to serve: the listener is bound, so `port()` is known
/// before serving starts (tests bind port 0).
pub struct Application {
    listener: TcpListener,
    app: BoxEndpoint<'static, poem::Response>,
    mounts: Vec<Mount>,
    serving: Serving,
    stop: tokio::sync::watch::Sender<bool>,
    background: Vec<tokio::task::JoinHandle<()>>,
}

/// Tells a background task that the application is stopping.
#[derive(Clone)]
pub struct Stopping(tokio::sync::watch::Receiver<bool>);

impl Stopping {
    /// Resolves once the application is stopping.
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stopping| *stopping).await;
    }
}

impl Application {
    /// Runs `task` beside the server; when the server stops it is told so, and given the
    /// grace period to finish.
    pub fn spawn_background<F, Fut>(&mut self, task: F)
    where
        F: FnOnce(Stopping) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stopping = Stopping(self.stop.subscribe());
        self.background.push(tokio::spawn(task(stopping)));
    }

    /// Serves `mount` beside the app, on the same listener.
    pub fn mount(&mut self, mount: Mount) {
        self.mounts.push(mount);
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or_default()
    }

    /// Serves until `shutdown`; then background tasks are told at once (a WebSocket drain must
    /// not wait for the HTTP side to finish first) while in-flight requests finish, and both get
    /// the grace period.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()> + Send) -> std::io::Result<()> {
        let stop = self.stop.clone();
        let shutdown = async move {
            shutdown.await;
            stop.send_replace(true);
        };
        let served = serve(self.listener, self.app, self.mounts, shutdown, self.serving).await;
        self.stop.send_replace(true);
        let finished = futures_util::future::join_all(self.background);
        if tokio::time::timeout(self.serving.grace, finished).await.is_err() {
            tracing::warn!("background tasks did not finish within the grace period");
        }
        served
    }
}
