//! nginx as ingress-nginx runs it, from the configuration `scripts/ingress_nginx.py` wrote, and
//! what the cluster would change under it: the ready pods behind each Service (reloaded, as
//! the included files change), the address of the ingress and of each Service.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    process::{Child, Command},
    sync::Mutex,
};

use crate::plan::Plan;

pub struct Proxy {
    dir: PathBuf,
    child: Child,
    /// The public address clients use.
    pub address: String,
    /// Where each Service answers inside the "cluster" (for JWKS_URL).
    pub services: BTreeMap<String, String>,
    /// The endpoints of each Service, and the generation of the configuration written.
    endpoints: Mutex<(BTreeMap<String, Vec<u16>>, u64)>,
    control: String,
    http: reqwest::Client,
}

impl Proxy {
    /// Starts nginx on `dir/nginx.conf`, every Service without a ready pod yet.
    pub async fn start(dir: &Path, plan: &Plan) -> anyhow::Result<Self> {
        let runtime = dir.join("runtime");
        let port = testkit::free_port();
        std::fs::write(runtime.join("listen.conf"), format!("listen 127.0.0.1:{port};\n"))?;
        let mut services = BTreeMap::new();
        for name in plan.services.keys() {
            let port = testkit::free_port();
            std::fs::write(runtime.join(format!("listen-{name}.conf")), format!("listen 127.0.0.1:{port};\n"))?;
            services.insert(name.clone(), format!("127.0.0.1:{port}"));
        }
        for name in plan.services.keys() {
            write_endpoints(&runtime, name, &[])?;
        }
        let control = testkit::free_port();
        std::fs::write(runtime.join("listen-control.conf"), format!("listen 127.0.0.1:{control};\n"))?;
        write_generation(&runtime, 0)?;
        let child = Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start nginx (scripts/e2e installs it): {e}"))?;
        let proxy = Self {
            dir: dir.to_owned(),
            child,
            address: format!("127.0.0.1:{port}"),
            services,
            endpoints: Mutex::default(),
            control: format!("http://127.0.0.1:{control}/generation"),
            // A connection per request: each one asks whichever worker accepts it now.
            http: shared::http_client::builder().pool_max_idle_per_host(0).timeout(Duration::from_secs(2)).build()?,
        };
        crate::process::wait_for_port(port, Duration::from_secs(10)).await?;
        Ok(proxy)
    }

    /// A pod became ready: the Service's endpoints list it.
    pub async fn add(&self, service: &str, port: u16) -> anyhow::Result<()> {
        self.change(service, |ports| ports.push(port)).await
    }

    /// A pod is terminating: the Service's endpoints drop it.
    pub async fn remove(&self, service: &str, port: u16) -> anyhow::Result<()> {
        self.change(service, |ports| ports.retain(|p| *p != port)).await
    }

    /// Rewrites a Service's endpoints and reloads nginx: new workers take the new list; the
    /// old ones finish what they hold (their WebSockets included, for up to
    /// worker_shutdown_timeout). Returns once the new workers are the ones accepting
    /// connections (a reload is asynchronous: until then the old ones still take new ones).
    async fn change(&self, service: &str, edit: impl FnOnce(&mut Vec<u16>)) -> anyhow::Result<()> {
        let mut guard = self.endpoints.lock().await;
        let (all, generation) = &mut *guard;
        let ports = all.entry(service.to_owned()).or_default();
        edit(ports);
        let runtime = self.dir.join("runtime");
        write_endpoints(&runtime, service, ports)?;
        *generation += 1;
        write_generation(&runtime, *generation)?;
        let pid = self.child.id().ok_or_else(|| anyhow::anyhow!("nginx has exited"))?;
        crate::process::signal(pid, "HUP").await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = match self.http.get(&self.control).send().await {
                Ok(answer) => answer.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if seen == generation.to_string() {
                // The master stops the old workers accepting right after it starts the new.
                tokio::time::sleep(Duration::from_millis(50)).await;
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "nginx did not take configuration {generation} within 10 s");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Proxy {
    /// nginx's fast shutdown: the master stops its workers, the old generations' too (a
    /// SIGKILL to the master alone would leave them running, holding the port).
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
            for _ in 0..100 {
                if matches!(self.child.try_wait(), Ok(Some(_))) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

/// The port of the pod that served a request, from the `X-E2E-Upstream` the proxy adds
/// (`127.0.0.1:PORT`, or several, comma separated, when it tried more than one: the last).
pub fn upstream_port(value: &str) -> Option<u16> {
    value.rsplit(", ").next()?.rsplit(':').next()?.parse().ok()
}

fn write_generation(runtime: &Path, generation: u64) -> anyhow::Result<()> {
    std::fs::write(runtime.join("generation.conf"), format!("return 200 \"{generation}\";\n"))?;
    Ok(())
}

fn write_endpoints(runtime: &Path, service: &str, ports: &[u16]) -> anyhow::Result<()> {
    let mut lines: String = ports.iter().map(|p| format!("server 127.0.0.1:{p} max_fails=0;\n")).collect();
    if ports.is_empty() {
        // An upstream needs a server; one marked down answers 502, as a Service without
        // ready pods does.
        lines.push_str("server 127.0.0.1:9 down;\n");
    }
    std::fs::write(runtime.join(format!("endpoints-{service}.conf")), lines)?;
    Ok(())
}
