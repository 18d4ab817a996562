//! The delivery load on a Redis Cluster (three masters, a replica each: the tests' harness)
//! next to the one Redis server, and what crosses the cluster bus meanwhile: the bytes the
//! nodes send each other through their bus ports (from the kernel's socket counters), with
//! our sharded pub/sub, and with classic `PUBLISH` of as many messages of the same size, each
//! less the gossip of an idle window.

use std::{process::Command, time::Instant};

use testkit::redis_cluster::RedisCluster;

pub struct Bus {
    pub cluster: RedisCluster,
    /// Bytes per second the nodes send each other with nothing published: gossip.
    idle_per_second: f64,
}

/// What one window cost on the bus.
pub struct BusUse {
    /// Publishes the masters served in the window.
    pub publishes: u64,
    /// Bytes over the bus in the window, less the idle gossip.
    pub bytes: f64,
    /// Bytes the publishes carried in (payload and protocol), per publish.
    pub bytes_in_per_publish: f64,
    /// Publishes served per master, in the masters' order.
    pub per_master: Vec<u64>,
}

impl BusUse {
    pub fn per_publish(&self) -> f64 {
        self.bytes / self.publishes.max(1) as f64
    }
}

/// The counters a window is measured between.
pub struct Mark {
    at: Instant,
    sent: u64,
    calls: Vec<u64>,
    input: u64,
}

impl Bus {
    /// Starts the cluster and measures its idle gossip over `idle_seconds`.
    pub fn start(idle_seconds: u64) -> Self {
        let mut bus = Self { cluster: RedisCluster::start(), idle_per_second: 0.0 };
        let mark = bus.mark("SPUBLISH");
        std::thread::sleep(std::time::Duration::from_secs(idle_seconds));
        let sent = bus.bus_bytes_sent() - mark.sent;
        bus.idle_per_second = sent as f64 / mark.at.elapsed().as_secs_f64();
        bus
    }

    /// The counters now, counting calls of `command` (`SPUBLISH` or `PUBLISH`).
    pub fn mark(&self, command: &str) -> Mark {
        let calls = self.cluster.masters().iter().map(|m| self.calls(m.port, command)).collect();
        let input = self.cluster.masters().iter().map(|m| self.stat(m.port, "total_net_input_bytes")).sum();
        Mark { at: Instant::now(), sent: self.bus_bytes_sent(), calls, input }
    }

    /// What the cluster's bus carried since `mark`.
    pub fn since(&self, mark: &Mark, command: &str) -> BusUse {
        let seconds = mark.at.elapsed().as_secs_f64();
        let bytes = (self.bus_bytes_sent() - mark.sent) as f64 - self.idle_per_second * seconds;
        let per_master: Vec<u64> = self
            .cluster
            .masters()
            .iter()
            .zip(&mark.calls)
            .map(|(m, before)| self.calls(m.port, command).saturating_sub(*before))
            .collect();
        let publishes = per_master.iter().sum::<u64>();
        let input: u64 = self.cluster.masters().iter().map(|m| self.stat(m.port, "total_net_input_bytes")).sum();
        BusUse {
            publishes,
            bytes: bytes.max(0.0),
            bytes_in_per_publish: input.saturating_sub(mark.input) as f64 / publishes.max(1) as f64,
            per_master,
        }
    }

    /// Classic `PUBLISH` of `count` messages of `size` bytes on the first master (to a channel
    /// nobody listens to: a cluster forwards it to every node all the same).
    pub fn classic_publish(&self, count: u64, size: usize) -> BusUse {
        let port = self.cluster.masters()[0].port;
        let mark = self.mark("PUBLISH");
        let out = Command::new("redis-benchmark")
            .args(["-p", &port.to_string(), "-n", &count.to_string(), "-c", "20", "-q"])
            .args(["PUBLISH", "chat:classic", "x".repeat(size).as_str()])
            .output()
            .expect("redis-benchmark");
        assert!(out.status.success(), "redis-benchmark: {}", String::from_utf8_lossy(&out.stderr));
        self.since(&mark, "PUBLISH")
    }

    fn calls(&self, port: u16, command: &str) -> u64 {
        let stats = self.cluster.ask(port, &["INFO", "commandstats"]);
        let prefix = format!("cmdstat_{}:calls=", command.to_lowercase());
        stats
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|rest| rest.split(',').next()?.parse().ok())
            .unwrap_or(0)
    }

    fn stat(&self, port: u16, name: &str) -> u64 {
        let info = self.cluster.ask(port, &["INFO", "stats"]);
        info.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))?.trim().parse().ok()).unwrap_or(0)
    }

    /// Bytes sent so far on every TCP socket of the cluster bus (either end on a bus port).
    fn bus_bytes_sent(&self) -> u64 {
        let ports = self.cluster.bus_ports();
        let out = Command::new("ss").args(["-tinH", "state", "established"]).output().expect("ss (iproute2)");
        let text = String::from_utf8_lossy(&out.stdout);
        let mut total = 0;
        let mut on_bus = false;
        for line in text.lines() {
            if !line.starts_with(char::is_whitespace) {
                // "Recv-Q Send-Q local:port peer:port": is either end a bus port?
                on_bus = line.split_whitespace().skip(2).take(2).any(|addr| {
                    addr.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).is_some_and(|p| ports.contains(&p))
                });
            } else if on_bus {
                total += line
                    .split_whitespace()
                    .find_map(|field| field.strip_prefix("bytes_sent:"))
                    .and_then(|n| n.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
        total
    }
}
