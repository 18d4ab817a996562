//! What `scripts/ingress_nginx.py` read off the chart's rendered objects: the Deployments to
//! run behind the proxy, the Services, the migration Job and the routes of the Ingress objects.

use std::{collections::BTreeMap, path::Path, time::Duration};

use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Plan {
    pub components: BTreeMap<String, Component>,
    pub services: BTreeMap<String, Service>,
    pub migration: Migration,
    pub routes: Vec<Route>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Component {
    pub command: Vec<String>,
    pub replicas: usize,
    /// The ConfigMap's and the container's literal variables.
    pub env: BTreeMap<String, String>,
    /// Variables the cluster takes from Secrets: the stage supplies each.
    pub secret_env: Vec<String>,
    pub pre_stop_sleep_seconds: u64,
    pub termination_grace_period_seconds: u64,
    pub max_surge: serde_json::Value,
    pub max_unavailable: serde_json::Value,
}

impl Component {
    pub fn pre_stop(&self) -> Duration {
        Duration::from_secs(self.pre_stop_sleep_seconds)
    }

    pub fn termination_grace(&self) -> Duration {
        Duration::from_secs(self.termination_grace_period_seconds)
    }

    /// The setting the binary reads, as the chart gives it.
    pub fn setting(&self, name: &str) -> anyhow::Result<u64> {
        let value = self.env.get(name).ok_or_else(|| anyhow::anyhow!("the chart sets no {name}"))?;
        Ok(value.parse()?)
    }
}

#[derive(Debug, Deserialize)]
pub struct Service {
    pub port: u16,
    pub component: String,
}

#[derive(Debug, Deserialize)]
pub struct Migration {
    pub command: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub ingress: String,
    pub path: String,
    pub path_type: String,
    pub component: String,
    pub read_timeout_seconds: u64,
    pub send_timeout_seconds: u64,
}

impl Plan {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        let plan: Self = serde_json::from_str(&text)?;
        for (name, c) in &plan.components {
            // The rollout the stage plays is Kubernetes' for this strategy: a new pod ready
            // before an old one stops.
            if c.max_unavailable != 0 || c.max_surge == 0 {
                anyhow::bail!(
                    "{name}: rollingUpdate maxSurge {} / maxUnavailable {} is not the surge-first rollout this stage plays",
                    c.max_surge,
                    c.max_unavailable
                );
            }
        }
        Ok(plan)
    }

    pub fn component(&self, name: &str) -> anyhow::Result<&Component> {
        self.components.get(name).ok_or_else(|| anyhow::anyhow!("the chart has no Deployment running {name}"))
    }

    /// The route that serves `path`, by the Ingress objects' own rules.
    pub fn route_for(&self, path: &str) -> Option<&Route> {
        self.routes
            .iter()
            .filter(|r| match r.path_type.as_str() {
                "Exact" => path == r.path,
                "Prefix" => path == r.path || path.starts_with(&format!("{}/", r.path.trim_end_matches('/'))),
                _ => path.starts_with(&r.path),
            })
            .max_by_key(|r| r.path.len())
    }
}
