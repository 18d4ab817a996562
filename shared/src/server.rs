//! Serving an app on a bound listener until SIGTERM or SIGINT (or the caller's own shutdown
//! signal, in tests), then letting in-flight requests finish within the grace period.

use std::{future::Future, time::Duration};

use poem::{Endpoint, Server, listener::TcpAcceptor};
use tokio::net::TcpListener;

pub async fn serve(
    listener: TcpListener,
    app: impl Endpoint + 'static,
    shutdown: impl Future<Output = ()> + Send,
    grace: Duration,
) -> std::io::Result<()> {
    Server::new_with_acceptor(TcpAcceptor::from_tokio(listener)?)
        .run_with_graceful_shutdown(app, shutdown, Some(grace))
        .await
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

/// A service (or the whole suite) ready to serve: the listener is bound, so `port()` is known
/// before serving starts (tests bind port 0).
pub struct Application {
    listener: TcpListener,
    app: poem::endpoint::BoxEndpoint<'static, poem::Response>,
    grace: Duration,
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
    pub async fn bind(
        name: &str,
        addr: std::net::SocketAddr,
        app: impl Endpoint<Output = poem::Response> + 'static,
        grace: Duration,
    ) -> anyhow::Result<Self> {
        let listener =
            TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("LISTEN_ADDR: cannot bind {addr}: {e}"))?;
        tracing::info!(addr = %listener.local_addr()?, "{name} listening");
        let (stop, _) = tokio::sync::watch::channel(false);
        Ok(Self { listener, app: poem::EndpointExt::boxed(app), grace, stop, background: Vec::new() })
    }

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
        let served = serve(self.listener, self.app, shutdown, self.grace).await;
        self.stop.send_replace(true);
        let finished = futures_util::future::join_all(self.background);
        if tokio::time::timeout(self.grace, finished).await.is_err() {
            tracing::warn!("background tasks did not finish within the grace period");
        }
        served
    }
}
