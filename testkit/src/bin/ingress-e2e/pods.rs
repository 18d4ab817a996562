//! The stage's "cluster": the suite's binaries started as the chart's Deployments start them,
//! listed behind the proxy once ready, and stopped as Kubernetes stops a pod: the endpoint
//! goes from the proxy's list (after the time the proxy takes to learn it) while the preStop
//! sleep runs, then SIGTERM, then SIGKILL if the grace period runs out.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    process::Stdio,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tokio::{
    process::{Child, Command},
    sync::Mutex,
};

use crate::{console::say, plan::Plan, process::signal, proxy::Proxy};

/// How long the proxy keeps sending to a pod after its deletion: the endpoints controller and
/// ingress-nginx's sync take about this much in a quiet cluster, and more in a busy one.
pub const ENDPOINT_DELAY: Duration = Duration::from_secs(1);

/// The order the chart's pods come up and roll in: the token issuer first.
pub const COMPONENTS: [&str; 3] = ["auth-api", "user-search", "chat-gateway"];

pub struct Pod {
    name: String,
    port: u16,
    child: Child,
}

/// What the stage supplies that a cluster would: the binaries, the Secrets' values, a place
/// for each pod's files.
pub struct Supplied {
    pub bin_dir: PathBuf,
    pub work: PathBuf,
    pub secrets: BTreeMap<String, String>,
    pub extra_env: BTreeMap<String, String>,
}

pub struct Cluster {
    plan: Plan,
    supplied: Supplied,
    pub proxy: Arc<Proxy>,
    pods: Mutex<BTreeMap<String, Vec<Pod>>>,
    started: AtomicUsize,
    /// Every pod's port and component, the stopped ones' too (an answer names the port).
    ports: std::sync::Mutex<BTreeMap<u16, String>>,
    http: reqwest::Client,
}

impl Cluster {
    /// The migration Job, then every Deployment's replicas, each listed behind the proxy once
    /// its `/readyz` answers.
    pub async fn start(plan: Plan, supplied: Supplied, proxy: Proxy) -> anyhow::Result<Self> {
        let cluster = Self {
            plan,
            supplied,
            proxy: Arc::new(proxy),
            pods: Mutex::default(),
            started: AtomicUsize::new(0),
            ports: std::sync::Mutex::default(),
            http: shared::http_client::builder().timeout(Duration::from_secs(2)).build()?,
        };
        cluster.migrate().await?;
        for component in COMPONENTS {
            for _ in 0..cluster.plan.component(component)?.replicas {
                let pod = cluster.start_pod(component).await?;
                cluster.pods.lock().await.entry(component.to_owned()).or_default().push(pod);
            }
        }
        Ok(cluster)
    }

    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The component whose pod listens (or listened) on `port`.
    pub fn component_at(&self, port: u16) -> Option<String> {
        self.ports.lock().ok()?.get(&port).cloned()
    }

    async fn migrate(&self) -> anyhow::Result<()> {
        let (binary, args) = self.plan.migration.command.split_first().ok_or_else(|| anyhow::anyhow!("empty Job"))?;
        let status = Command::new(self.supplied.bin_dir.join(binary))
            .args(args)
            .envs(&self.supplied.secrets)
            .stdout(Stdio::null())
            .status()
            .await?;
        anyhow::ensure!(status.success(), "the migration ({}) failed: {status}", self.plan.migration.command.join(" "));
        Ok(())
    }

    /// Starts a pod of `component`, waits until it is ready and lists it behind the proxy.
    async fn start_pod(&self, component: &str) -> anyhow::Result<Pod> {
        let spec = self.plan.component(component)?;
        let n = self.started.fetch_add(1, Ordering::Relaxed) + 1;
        let name = format!("{component}-{n}");
        let port = testkit::free_port();
        let data = self.supplied.work.join("data").join(&name);
        std::fs::create_dir_all(&data)?;
        let mut env = BTreeMap::new();
        for (key, value) in &spec.env {
            env.insert(key.clone(), self.inside_cluster(value));
        }
        for key in &spec.secret_env {
            let value = self.supplied.secrets.get(key).ok_or_else(|| {
                anyhow::anyhow!("{component} takes {key} from a Secret, and the stage supplies no value for it")
            })?;
            env.insert(key.clone(), value.clone());
        }
        env.extend(self.supplied.extra_env.clone());
        env.insert("LISTEN_ADDR".into(), format!("127.0.0.1:{port}"));
        env.insert("DATA_DIR".into(), data.display().to_string());
        let (binary, args) = spec.command.split_first().ok_or_else(|| anyhow::anyhow!("{component}: no command"))?;
        let log = std::fs::File::create(self.supplied.work.join(format!("{name}.log")))?;
        let child = Command::new(self.supplied.bin_dir.join(binary))
            .args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(&env)
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| anyhow::anyhow!("cannot start {binary}: {e}"))?;
        if let Ok(mut ports) = self.ports.lock() {
            ports.insert(port, component.to_owned());
        }
        let mut pod = Pod { name, port, child };
        self.wait_ready(&mut pod).await?;
        self.proxy.add(self.service_of(component)?, port).await?;
        say(&format!("{}: ready on port {port}, behind the proxy", pod.name));
        Ok(pod)
    }

    /// A value of the chart's with the cluster's Service addresses turned into the proxy's
    /// stand-ins for them.
    fn inside_cluster(&self, value: &str) -> String {
        let mut value = value.to_owned();
        for (name, service) in &self.plan.services {
            if let Some(address) = self.proxy.services.get(name) {
                value = value.replace(&format!("//{name}:{}", service.port), &format!("//{address}"));
            }
        }
        value
    }

    fn service_of(&self, component: &str) -> anyhow::Result<&str> {
        self.plan
            .services
            .iter()
            .find(|(_, s)| s.component == component)
            .map(|(name, _)| name.as_str())
            .ok_or_else(|| anyhow::anyhow!("no Service selects {component}"))
    }

    async fn wait_ready(&self, pod: &mut Pod) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let url = format!("http://127.0.0.1:{}/readyz", pod.port);
        loop {
            if let Some(status) = pod.child.try_wait()? {
                anyhow::bail!("{} exited before it was ready ({status}); see its log", pod.name);
            }
            if self.http.get(&url).send().await.is_ok_and(|r| r.status() == 200) {
                return Ok(());
            }
            anyhow::ensure!(Instant::now() < deadline, "{} was not ready within 60 s", pod.name);
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A rolling update of `component` as the chart's strategy runs it (a new pod ready before
    /// an old one stops, one at a time), each old pod stopped with a preStop sleep of
    /// `pre_stop`.
    pub async fn roll(&self, component: &str, pre_stop: Duration) -> anyhow::Result<()> {
        let old = std::mem::take(self.pods.lock().await.entry(component.to_owned()).or_default());
        for pod in old {
            let new = self.start_pod(component).await?;
            self.pods.lock().await.entry(component.to_owned()).or_default().push(new);
            self.terminate(component, pod, pre_stop).await?;
        }
        Ok(())
    }

    /// Kubernetes deleting a pod: the endpoint removal and the preStop sleep start together;
    /// SIGTERM when the sleep ends; SIGKILL at the end of the grace period.
    async fn terminate(&self, component: &str, mut pod: Pod, pre_stop: Duration) -> anyhow::Result<()> {
        let grace = self.plan.component(component)?.termination_grace();
        let started = Instant::now();
        let proxy = self.proxy.clone();
        let (service, port) = (self.service_of(component)?.to_owned(), pod.port);
        let removal = tokio::spawn(async move {
            tokio::time::sleep(ENDPOINT_DELAY).await;
            proxy.remove(&service, port).await
        });
        say(&format!("{}: deleted (preStop sleep {} s)", pod.name, pre_stop.as_secs()));
        tokio::time::sleep(pre_stop).await;
        let pid = pod.child.id().ok_or_else(|| anyhow::anyhow!("{} exited before SIGTERM", pod.name))?;
        signal(pid, "TERM").await?;
        let left = grace.saturating_sub(started.elapsed());
        let status = match tokio::time::timeout(left, pod.child.wait()).await {
            Ok(status) => status?,
            Err(_) => {
                pod.child.kill().await?;
                anyhow::bail!("{} was still running at the end of its grace period and was killed", pod.name);
            }
        };
        let exited = started.elapsed();
        removal.await??;
        anyhow::ensure!(status.success(), "{} exited with {status} after SIGTERM; see its log", pod.name);
        say(&format!("{}: exited {:.1} s after its deletion", pod.name, exited.as_secs_f64()));
        Ok(())
    }

    /// Every pod's SIGTERM, for the end of the stage.
    pub async fn stop(&self) {
        for (_, pods) in std::mem::take(&mut *self.pods.lock().await) {
            for mut pod in pods {
                if let Some(pid) = pod.child.id() {
                    let _ = signal(pid, "TERM").await;
                }
                let _ = tokio::time::timeout(Duration::from_secs(30), pod.child.wait()).await;
            }
        }
    }
}
