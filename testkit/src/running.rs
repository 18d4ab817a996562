//! An application under test, served in the test's runtime on the port it bound, and the
//! means to stop it the way SIGTERM would.

use shared::server::Application;
use tokio::{sync::oneshot, task::JoinHandle};

pub struct Running {
    pub address: String,
    pub port: u16,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Running {
    pub fn start(app: Application) -> Self {
        crate::init_logs();
        let port = app.port();
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        Self { address: format!("http://127.0.0.1:{port}"), port, stop: Some(stop), task: Some(task) }
    }

    /// Stops it and waits until it has (its port is free again).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
