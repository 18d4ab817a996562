//! An HTTP client as a real one behaves behind an ingress: from an address of its own, it
//! retries a 502, 503 or 504 (and a connection the proxy closed under it) with exponential
//! backoff, and gives up only after several attempts.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::Arc,
    time::Duration,
};

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::figures::{Event, Figures};

const ATTEMPTS: u32 = 8;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The source address of client `n`: each its own, as each user of a real service has, so
/// that per-address rate limits see many clients, not one.
pub fn address_of(n: u32) -> IpAddr {
    let [_, a, b, c] = (n + 1).to_be_bytes();
    IpAddr::V4(Ipv4Addr::new(127, 16 + a, b, c))
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    figures: Arc<Figures>,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
    pub retries: u32,
}

impl Client {
    pub fn new(proxy: &str, from: IpAddr, figures: Arc<Figures>) -> anyhow::Result<Self> {
        let http = shared::http_client::builder().local_address(from).timeout(Duration::from_secs(30)).build()?;
        Ok(Self { http, base: format!("http://{proxy}"), figures })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }

    pub fn figures(&self) -> &Figures {
        &self.figures
    }

    /// Sends until an answer other than 502/503/504 comes, and checks its status is `expect`.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        expect: u16,
    ) -> anyhow::Result<Answer> {
        let answer = self.send(method.clone(), path, token, body, &[]).await?;
        if answer.status.as_u16() != expect {
            let why = format!("{method} {}: {} {}", route_of(path), answer.status.as_u16(), answer.body);
            self.figures.record(Event::Failed { why: why.clone(), answered: true });
            anyhow::bail!(why);
        }
        Ok(answer)
    }

    /// Sends with retries; any answer but 502/503/504 is returned (and counted) as it came.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Answer> {
        let mut backoff = FIRST_BACKOFF;
        for attempt in 0..ATTEMPTS {
            let mut req = self.http.request(method.clone(), self.url(path));
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            if let Some(body) = body {
                req = req.json(body);
            }
            for (name, value) in headers {
                req = req.header(*name, *value);
            }
            let why = match req.send().await {
                Ok(resp) if matches!(resp.status().as_u16(), 502..=504) => resp.status().as_u16().to_string(),
                Ok(resp) => {
                    let (status, headers) = (resp.status(), resp.headers().clone());
                    let bytes = resp.bytes().await.unwrap_or_default();
                    let body = serde_json::from_slice(&bytes)
                        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
                    let resent =
                        headers.get("x-e2e-upstream").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains(','));
                    self.figures.record(Event::Answered { retries: attempt, resent });
                    return Ok(Answer { status, body, headers, retries: attempt });
                }
                // Refused, reset, or closed by the proxy before an answer: the request may or
                // may not have been served; every request of the stage can be sent again.
                Err(err) if err.is_timeout() => "timeout".to_owned(),
                Err(_) => "connection".to_owned(),
            };
            self.figures.record(Event::Retried(why));
            let jitter = 0.5 + f64::from(uuid::Uuid::new_v4().as_u128() as u16) / f64::from(u16::MAX);
            tokio::time::sleep(backoff.mul_f64(jitter)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
        let why = format!("{method} {}: no answer but 502/503/504 after {ATTEMPTS} attempts", route_of(path));
        self.figures.record(Event::Failed { why: why.clone(), answered: false });
        anyhow::bail!(why)
    }
}

/// A path without its query and the names in it, for a failure's line.
fn route_of(path: &str) -> &str {
    path.split('?').next().unwrap_or(path)
}
