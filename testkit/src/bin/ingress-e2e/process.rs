//! Other processes, as the stage drives them: signals, and waiting for one to listen.

use std::time::{Duration, Instant};

use tokio::process::Command;

pub async fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill").arg(format!("-{name}")).arg(pid.to_string()).status().await?;
    anyhow::ensure!(status.success(), "kill -{name} {pid} failed");
    Ok(())
}

pub async fn wait_for_port(port: u16, patience: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + patience;
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "nothing listens on port {port} after {patience:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
