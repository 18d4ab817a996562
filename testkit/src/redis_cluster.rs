//! A real Redis Cluster of the test's own: three masters and a replica of each, on free
//! loopback ports, made from the installed `redis-server --cluster-enabled yes` and
//! `redis-cli --cluster create`, and gone (processes and files) when dropped. A test changes
//! it under the services' feet as an operator or a fault would: a slot moved to another
//! master, a master killed and its replica promoted, every node down and back. Over TLS alone
//! if the test asks: clients, replication and the cluster bus (`--tls-cluster yes`).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use crate::redis_tls::RedisTlsFiles;

/// How long the nodes wait before taking a silent master for failed: short, so a failover
/// takes a second or two rather than the default's fifteen.
const NODE_TIMEOUT_MS: &str = "1000";
/// The whole cluster settles (made, moved, failed over) within this or the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: tempfile::TempDir,
    tls: Option<RedisTlsFiles>,
}

struct Node {
    port: u16,
    /// The cluster bus's port: set apart, as `port + 10000` may be taken or out of range.
    bus_port: u16,
    child: Option<Child>,
}

/// What one node says of a master in `CLUSTER NODES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Master {
    pub id: String,
    pub port: u16,
    /// Slot ranges served, inclusive.
    pub slots: Vec<(u16, u16)>,
}

impl RedisCluster {
    /// Six nodes, three of them masters with a third of the slots each, each with a replica;
    /// returns once every node says the cluster is ok.
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// The same, over TLS alone, with these certificates.
    pub fn start_tls(tls: RedisTlsFiles) -> Self {
        Self::start_with(Some(tls))
    }

    fn start_with(tls: Option<RedisTlsFiles>) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the cluster's files");
        let nodes =
            (0..6).map(|_| Node { port: crate::free_port(), bus_port: crate::free_port(), child: None }).collect();
        let mut cluster = Self { nodes, dir, tls };
        for index in 0..cluster.nodes.len() {
            // A port taken by another test's server meanwhile: this node tries others.
            while !cluster.try_run(index) {
                cluster.nodes[index].port = crate::free_port();
                cluster.nodes[index].bus_port = crate::free_port();
            }
        }
        let addresses: Vec<String> = cluster.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        let created = Command::new("redis-cli")
            .args(cluster.tls.iter().flat_map(RedisTlsFiles::cli_args))
            .arg("--cluster")
            .arg("create")
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli must be installed (see ../shared/SERVICES.md)");
        assert!(created.status.success(), "redis-cli --cluster create: {}", String::from_utf8_lossy(&created.stdout));
        // Every node has heard that the other three are replicas, not empty masters; and each
        // replica has its master's data (one that never had it may not take over).
        cluster.settle("made", |cluster| {
            cluster.nodes_agree(|masters| masters.len() == 3) && cluster.all_ok() && cluster.replicas_linked()
        });
        cluster
    }

    /// Every node's cluster bus port: what the nodes send each other goes through them.
    pub fn bus_ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.bus_port).collect()
    }

    /// What `redis-cli` prints for `args` sent to the node on `port`.
    pub fn ask(&self, port: u16, args: &[&str]) -> String {
        self.cli(port, args)
    }

    /// The seed list a service is given: `redis+cluster://` (`rediss+cluster://`) and every
    /// node.
    pub fn service_url(&self) -> String {
        let nodes: Vec<String> = self.nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
        format!("{}+cluster://{}", self.scheme(), nodes.join(","))
    }

    /// What a service is started with to use it: `--redis-url` and the TLS files.
    pub fn service_args(&self) -> Vec<String> {
        let mut args = vec![format!("--redis-url={}", self.service_url())];
        args.extend(self.tls.iter().flat_map(RedisTlsFiles::service_args));
        args
    }

    /// Its TLS files, when it serves TLS.
    pub fn tls(&self) -> Option<&RedisTlsFiles> {
        self.tls.as_ref()
    }

    /// Every node's address, for a client's seed list.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(|n| format!("{}://127.0.0.1:{}", self.scheme(), n.port)).collect()
    }

    fn scheme(&self) -> &'static str {
        if self.tls.is_some() { "rediss" } else { "redis" }
    }

    /// The slot of `key` (its hash tag's, when it has one).
    pub fn slot_of(&self, key: &str) -> u16 {
        let answer = self.cli(self.any_running(), &["CLUSTER", "KEYSLOT", key]);
        answer.trim().parse().unwrap_or_else(|_| panic!("CLUSTER KEYSLOT {key}: {answer}"))
    }

    /// The masters, as a running node sees them.
    pub fn masters(&self) -> Vec<Master> {
        masters(&self.cli(self.any_running(), &["CLUSTER", "NODES"]))
    }

    /// The port of the master serving `slot`.
    pub fn master_of(&self, slot: u16) -> u16 {
        let masters = self.masters();
        masters
            .iter()
            .find(|m| m.slots.iter().any(|(from, to)| (*from..=*to).contains(&slot)))
            .unwrap_or_else(|| panic!("no master serves slot {slot}: {masters:?}"))
            .port
    }

    /// Moves `slot` (and its keys) to the master on `to`, as `redis-cli --cluster reshard`
    /// does: importing and migrating marks, the keys, then the new owner told to every master.
    /// The old owner then sends its shard subscribers of the slot an `sunsubscribe`.
    pub fn migrate_slot(&self, slot: u16, to: u16) {
        let from = self.master_of(slot);
        if from == to {
            return;
        }
        let (from_id, to_id) = (self.node_id(from), self.node_id(to));
        let slot_arg = slot.to_string();
        self.cli(to, &["CLUSTER", "SETSLOT", &slot_arg, "IMPORTING", &from_id]);
        self.cli(from, &["CLUSTER", "SETSLOT", &slot_arg, "MIGRATING", &to_id]);
        loop {
            let keys = self.cli(from, &["CLUSTER", "GETKEYSINSLOT", &slot_arg, "100"]);
            let keys: Vec<&str> = keys.lines().filter(|k| !k.is_empty()).collect();
            if keys.is_empty() {
                break;
            }
            let to_port = to.to_string();
            let mut args = vec!["MIGRATE", "127.0.0.1", &to_port, "", "0", "5000", "KEYS"];
            args.extend(keys);
            let answer = self.cli(from, &args);
            assert!(answer.trim() == "OK", "MIGRATE of slot {slot}: {answer}");
        }
        for master in self.masters() {
            self.cli(master.port, &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to_id]);
        }
        self.settle("slot moved", |cluster| cluster.nodes_agree(|masters| serves(masters, to, slot)));
    }

    /// Kills the master on `port` (SIGKILL) and waits until its replica has taken its slots
    /// over; returns the new master's port. The killed node stays down until [`Self::restart`].
    pub fn fail_over(&mut self, port: u16) -> u16 {
        let slot = self
            .masters()
            .into_iter()
            .find(|m| m.port == port)
            .and_then(|m| m.slots.first().map(|(from, _)| *from))
            .unwrap_or_else(|| panic!("the node on {port} is not a master with slots"));
        self.kill(port);
        // Until the others agree that it failed, it is only suspected (`fail?`) and still
        // holds its slots: wait for another master to serve them, in every node's view.
        let taken_over = |masters: &[Master]| masters.iter().any(|m| m.port != port && serves(masters, m.port, slot));
        self.settle("failed over", |cluster| cluster.nodes_agree(taken_over) && cluster.all_ok());
        self.master_of(slot)
    }

    /// Kills the node on `port` (SIGKILL): its clients see their connections drop.
    pub fn kill(&mut self, port: u16) {
        let node = self.nodes.iter_mut().find(|n| n.port == port).expect("a node of this cluster");
        if let Some(mut child) = node.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the node on `port` again, with the cluster configuration it had (its data is
    /// gone: nothing is kept on disk). A failed-over master comes back as a replica.
    pub fn restart(&mut self, port: u16) {
        let index = self.nodes.iter().position(|n| n.port == port).expect("a node of this cluster");
        self.run(index);
    }

    /// Every node down at once, then back; returns once the cluster is ok again.
    pub fn outage_and_return(&mut self, outage: Duration) {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.port).collect();
        for port in &ports {
            self.kill(*port);
        }
        std::thread::sleep(outage);
        for port in ports {
            self.restart(port);
        }
        self.wait_until_ok();
    }

    /// Waits until every running node says `cluster_state:ok` and every replica is linked.
    pub fn wait_until_ok(&self) {
        self.settle("cluster_state:ok", |cluster| cluster.all_ok() && cluster.replicas_linked());
    }

    /// Whether every running replica is linked to its master.
    fn replicas_linked(&self) -> bool {
        self.running().all(|port| {
            let info = self.cli(port, &["INFO", "replication"]);
            !info.contains("role:slave") || info.contains("master_link_status:up")
        })
    }

    fn all_ok(&self) -> bool {
        self.running().all(|port| self.cli(port, &["CLUSTER", "INFO"]).contains("cluster_state:ok"))
    }

    /// Whether every running node's view of the masters passes `check`.
    fn nodes_agree(&self, check: impl Fn(&[Master]) -> bool) -> bool {
        self.running().all(|port| check(&masters(&self.cli(port, &["CLUSTER", "NODES"]))))
    }

    fn settle(&self, what: &str, done: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + PATIENCE;
        while !done(self) {
            if Instant::now() >= deadline {
                let views: Vec<String> = self.running().map(|port| self.cli(port, &["CLUSTER", "NODES"])).collect();
                panic!("the Redis Cluster did not settle ({what}) within {PATIENCE:?}: {views:#?}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn running(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes.iter().filter(|n| n.child.is_some()).map(|n| n.port)
    }

    fn any_running(&self) -> u16 {
        self.running().next().expect("a running node")
    }

    fn run(&mut self, index: usize) {
        let port = self.nodes[index].port;
        assert!(self.try_run(index), "the cluster node on port {port} could not start again (port taken meanwhile?)");
    }

    /// Starts node `index`; false when it exited instead of answering (a port was taken).
    fn try_run(&mut self, index: usize) -> bool {
        let dir = self.dir.path().to_owned();
        let node = &mut self.nodes[index];
        let mut child = spawn_node(&dir, node.port, node.bus_port, self.tls.as_ref());
        let answered = crate::redis_server::wait_until_answers(node.port, self.tls.as_ref(), &mut child);
        node.child = Some(child);
        answered
    }

    /// A command through `redis-cli` to the node on `port`; its answer as redis-cli prints it
    /// (an unreachable node answers with an empty string).
    fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(self.tls.iter().flat_map(RedisTlsFiles::cli_args))
            .args(["-p", &port.to_string()])
            .args(args)
            .stderr(Stdio::null())
            .output()
            .expect("redis-cli must be installed (see ../shared/SERVICES.md)");
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    fn node_id(&self, port: u16) -> String {
        self.cli(port, &["CLUSTER", "MYID"]).trim().to_owned()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

fn spawn_node(dir: &Path, port: u16, bus_port: u16, tls: Option<&RedisTlsFiles>) -> Child {
    let (port, bus_port) = (port.to_string(), bus_port.to_string());
    let config = dir.join(format!("nodes-{port}.conf"));
    let mut command = Command::new("redis-server");
    match tls {
        None => command.args(["--port", &port]),
        Some(tls) => command
            .args(["--port", "0", "--tls-port", &port, "--tls-cluster", "yes", "--tls-replication", "yes"])
            .args(tls.server_args()),
    };
    command
        .args(["--cluster-port", &bus_port, "--bind", "127.0.0.1"])
        .args(["--cluster-enabled", "yes", "--cluster-node-timeout", NODE_TIMEOUT_MS])
        .arg("--cluster-config-file")
        .arg(&config)
        .arg("--dir")
        .arg(dir)
        .args(["--save", "", "--appendonly", "no"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server must be installed (see ../shared/SERVICES.md)")
}

/// The masters in a `CLUSTER NODES` answer (`<id> <ip:port@bus> <flags> … <slots>…`), failed
/// ones left out; slots being imported or migrated (`[…]`) are not served yet.
fn masters(nodes: &str) -> Vec<Master> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
                return None;
            }
            let port = fields[1].split('@').next()?.rsplit(':').next()?.parse().ok()?;
            let slots = fields
                .iter()
                .skip(8)
                .filter(|s| !s.starts_with('['))
                .filter_map(|range| match range.split_once('-') {
                    Some((from, to)) => Some((from.parse().ok()?, to.parse().ok()?)),
                    None => range.parse().ok().map(|slot| (slot, slot)),
                })
                .collect();
            Some(Master { id: fields[0].to_owned(), port, slots })
        })
        .collect()
}

fn serves(masters: &[Master], port: u16, slot: u16) -> bool {
    masters.iter().any(|m| m.port == port && m.slots.iter().any(|(from, to)| (*from..=*to).contains(&slot)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The parts of `CLUSTER NODES` the harness relies on, as Redis 7 writes them.
    #[test]
    fn masters_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-b2]
b2 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922
c3 127.0.0.1:7002@17002 master,fail - 0 1 3 connected 10923-16383
d4 127.0.0.1:7003@17003 slave a1 0 1 1 connected
e5 127.0.0.1:7004@17004 master - 0 1 4 connected 42 100-200";
        let masters = masters(nodes);
        assert_eq!(masters.len(), 3, "{masters:?}");
        assert_eq!(masters[0], Master { id: "a1".into(), port: 7000, slots: vec![(0, 5460)] });
        assert_eq!(masters[2].slots, vec![(42, 42), (100, 200)]);
        assert!(serves(&masters, 7001, 5461) && !serves(&masters, 7000, 5461));
    }

    /// The harness does what it says to a real cluster: a slot moves with its keys, a killed
    /// master's replica takes over, and the whole cluster comes back after an outage.
    #[test]
    fn a_cluster_is_made_and_changed_as_tests_need() {
        let mut cluster = RedisCluster::start();
        let masters = cluster.masters();
        assert_eq!(masters.len(), 3, "{masters:?}");
        assert_eq!(served(&masters), 16384);

        let slot = cluster.slot_of("{user-1}");
        let owner = cluster.master_of(slot);
        assert_eq!(cluster.ask(owner, &["SET", "{user-1}:k", "v"]).trim(), "OK");
        let other = masters.iter().map(|m| m.port).find(|p| *p != owner).unwrap();
        cluster.migrate_slot(slot, other);
        assert_eq!(cluster.master_of(slot), other);
        assert_eq!(cluster.ask(other, &["GET", "{user-1}:k"]).trim(), "v", "the key moved with its slot");

        let promoted = cluster.fail_over(other);
        assert_ne!(promoted, other);
        assert_eq!(cluster.master_of(slot), promoted);
        cluster.restart(other);
        cluster.wait_until_ok();

        // Which node of a pair is master afterwards is the cluster's choice.
        cluster.outage_and_return(Duration::from_millis(200));
        assert_eq!(served(&cluster.masters()), 16384);
    }

    fn served(masters: &[Master]) -> u32 {
        masters.iter().flat_map(|m| &m.slots).map(|(from, to)| u32::from(to - from) + 1).sum()
    }
}
