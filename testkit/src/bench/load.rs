//! A closed-loop HTTP load: each client has one keep-alive connection and sends its next
//! request when the previous answer has arrived, so the concurrency is the number of clients.

use std::{
    future::Future,
    time::{Duration, Instant},
};

/// Latencies of the requests sent in the measured window, sorted.
#[derive(Debug, Clone, Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        Self(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The `p` quantile (0–1), nearest rank; zero when there is no sample.
    pub fn quantile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        self.0[((self.0.len() - 1) as f64 * p).round() as usize]
    }

    pub fn p50(&self) -> Duration {
        self.quantile(0.50)
    }

    pub fn p99(&self) -> Duration {
        self.quantile(0.99)
    }

    /// Both runs' samples in one distribution.
    pub fn merge(&self, other: &Self) -> Self {
        Self::new(self.0.iter().chain(&other.0).copied().collect())
    }
}

/// What a closed loop measured.
#[derive(Debug, Clone)]
pub struct Run {
    pub clients: usize,
    pub window: Duration,
    pub latencies: Latencies,
}

impl Run {
    /// Requests completed per second of the measured window.
    pub fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.window.as_secs_f64()
    }

    /// Two runs of the same load as one (their windows added).
    pub fn merge(&self, other: &Self) -> Self {
        Self {
            clients: self.clients,
            window: self.window + other.window,
            latencies: self.latencies.merge(&other.latencies),
        }
    }
}

/// `clients` clients send `request(client, n)` (n counts a client's requests from a number
/// unique to it) for `warmup + window`; requests sent during the window are measured. The
/// request asserts its own answer: a wrong answer fails the benchmark rather than counting.
pub async fn closed_loop<F, Fut>(clients: usize, warmup: Duration, window: Duration, request: F) -> Run
where
    F: Fn(reqwest::Client, u64) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let measure_from = Instant::now() + warmup;
    let stop = measure_from + window;
    let tasks: Vec<_> = (0..clients)
        .map(|client_number| {
            let request = request.clone();
            tokio::spawn(async move {
                let client = shared::http_client::builder().pool_max_idle_per_host(1).build().unwrap();
                let mut latencies = Vec::new();
                for n in (client_number as u64) << 32.. {
                    let sent = Instant::now();
                    if sent >= stop {
                        break;
                    }
                    request(client.clone(), n).await;
                    if sent >= measure_from {
                        latencies.push(sent.elapsed());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    Run { clients, window, latencies: Latencies::new(all) }
}
