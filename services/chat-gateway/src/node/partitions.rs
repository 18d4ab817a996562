//! Where each user's and each room's channel, and the presence keys, live in Redis.
//!
//! On one server, as ever: `chat:user:<id>`, `chat:room:<chat id>` and `chat:presence:…`. On
//! a Redis Cluster, users and rooms are spread over [`PARTITIONS`] partitions by their id (as
//! Centrifugo's sharded pub/sub), and every
//! channel and key of a partition carries the partition's hash tag, so that it lives in one
//! slot: a pipeline or a script that stays within a partition never crosses slots, and a
//! partition's channels can share one subscription on the master that holds them. The tags
//! are chosen so that partition `i` falls in the `i`-th of 24 equal slices of the slot space:
//! a cluster whose slots are split evenly between masters (as `redis-cli --cluster create`
//! and `rebalance` do) gets an even share of partitions on each, for 1, 2, 3, 4, 6, 8, 12
//! or 24 masters exactly and within one partition otherwise. Naive tags (`{0}`, `{1}`…) land
//! wherever their hash falls: some masters get none.

use shared::redis_conn::RedisConn;
use uuid::Uuid;

use super::target::Target;

/// Partitions of a cluster: enough to spread over 24 masters, few enough that a replica's
/// subscriptions (one connection each) stay cheap.
pub(crate) const PARTITIONS: usize = 24;

/// The hash tag of each partition; tag `i` hashes into slice `i` (tested).
const TAGS: [&str; PARTITIONS] = [
    "ptk", "pfi", "p3w", "pu5", "pg7", "paq", "p90", "pwk", "p3v", "pd7", "pv5", "pps", "pus", "pgq", "pyf", "p6v",
    "prk", "poh", "pdq", "pvs", "phd", "p9v", "pci", "pqk",
];

/// The key of the set of live replicas: on a cluster it stands alone in its slot, read and
/// written only by itself.
pub(crate) const NODES: &str = "chat:presence:nodes";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One Redis server: one partition, classic pub/sub.
    Server,
    /// A Redis Cluster: [`PARTITIONS`] tagged partitions, sharded pub/sub.
    Cluster,
}

impl Layout {
    /// The layout of the Redis behind `conn`.
    pub(crate) fn of(conn: &RedisConn) -> Self {
        if conn.is_cluster() { Self::Cluster } else { Self::Server }
    }

    pub(crate) fn partitions(self) -> usize {
        match self {
            Self::Server => 1,
            Self::Cluster => PARTITIONS,
        }
    }

    /// The partition of `target`, from its id alone: the same on every replica and in every
    /// release, so a room, like a user, is in one slot and is subscribed where users are.
    pub(crate) fn partition(self, target: Target) -> usize {
        match self {
            Self::Server => 0,
            // FNV-1a: stable (std's hasher is not), and it spreads random ids evenly.
            Self::Cluster => {
                let hash = target.id().as_bytes().iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
                    (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
                });
                (hash % PARTITIONS as u64) as usize
            }
        }
    }

    /// The prefix of every channel and key of `partition`.
    fn prefix(self, partition: usize) -> String {
        match self {
            Self::Server => "chat:".to_owned(),
            Self::Cluster => format!("chat:{{{}}}:", TAGS[partition]),
        }
    }

    /// The channel every replica holding a connection of the user, or one in the room,
    /// subscribes to.
    pub(crate) fn channel(self, target: Target) -> String {
        let prefix = self.prefix(self.partition(target));
        match target {
            Target::User(user) => format!("{prefix}user:{user}"),
            Target::Room(chat) => format!("{prefix}room:{chat}"),
        }
    }

    /// Whose channel this is.
    pub(crate) fn target_of(self, channel: &str) -> Option<Target> {
        if let Some((_, id)) = channel.rsplit_once(":user:") {
            return Uuid::parse_str(id).ok().map(Target::User);
        }
        let (_, id) = channel.rsplit_once(":room:")?;
        Uuid::parse_str(id).ok().map(Target::Room)
    }

    /// Publishes to a channel of this layout: sharded pub/sub on a cluster, where a classic
    /// `PUBLISH` would be copied to every node of it.
    pub(crate) fn publish_command(self) -> &'static str {
        match self {
            Self::Server => "PUBLISH",
            Self::Cluster => "SPUBLISH",
        }
    }

    /// Where the replicas holding connections of `user` are listed.
    pub(crate) fn user_key(self, user: Uuid) -> String {
        format!("{}presence:user:{user}", self.prefix(self.partition(Target::User(user))))
    }

    /// The users of `partition` that replica `node` holds connections of.
    pub(crate) fn node_key(self, partition: usize, node: &str) -> String {
        format!("{}presence:node:{node}", self.prefix(partition))
    }

    /// `items` by the partition of their target, each partition once, in the order first seen.
    pub(crate) fn group<T>(
        self,
        items: impl IntoIterator<Item = T>,
        target: impl Fn(&T) -> Target,
    ) -> Vec<(usize, Vec<T>)> {
        let mut groups: Vec<(usize, Vec<T>)> = Vec::new();
        for item in items {
            let partition = self.partition(target(&item));
            match groups.iter_mut().find(|(p, _)| *p == partition) {
                Some((_, members)) => members.push(item),
                None => groups.push((partition, vec![item])),
            }
        }
        groups
    }

    /// The slot of a partition's channels and keys (a cluster's).
    pub(crate) fn slot(self, partition: usize) -> u16 {
        slot_of(&self.prefix(partition))
    }
}

/// A key's slot, as Redis Cluster computes it: CRC16 (XMODEM) of its hash tag, modulo 16384
/// (redis-rs keeps its own to itself).
fn slot_of(key: &str) -> u16 {
    let hashed = key
        .split_once('{')
        .and_then(|(_, rest)| rest.split_once('}'))
        .map(|(tag, _)| tag)
        .filter(|tag| !tag.is_empty())
        .unwrap_or(key);
    let crc = hashed.bytes().fold(0_u16, |crc, byte| {
        (0..8).fold(
            crc ^ (u16::from(byte) << 8),
            |crc, _| {
                if crc & 0x8000 == 0 { crc << 1 } else { (crc << 1) ^ 0x1021 }
            },
        )
    });
    crc % 16384
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The slots Redis itself gives (`CLUSTER KEYSLOT`); an empty tag hashes the whole key.
    #[test]
    fn slots_are_redis_clusters() {
        assert_eq!(slot_of("123456789"), 12739);
        assert_eq!(slot_of("foo"), 12182);
        assert_eq!(slot_of("{user1000}.following"), slot_of("user1000"));
        assert_eq!(slot_of("foo{}{bar}"), 8363);
    }

    #[test]
    fn one_server_keeps_the_names_of_every_earlier_release() {
        let user = Uuid::parse_str("6f1c2d2e-8d0a-4d35-9a57-54a9a8a6d1f0").unwrap();
        let layout = Layout::Server;
        assert_eq!(layout.channel(Target::User(user)), format!("chat:user:{user}"));
        assert_eq!(layout.user_key(user), format!("chat:presence:user:{user}"));
        assert_eq!(layout.node_key(0, "gw-1"), "chat:presence:node:gw-1");
        assert_eq!(layout.target_of(&layout.channel(Target::User(user))), Some(Target::User(user)));
    }

    /// A room's channel on one server: one partition, beside the users'.
    #[test]
    fn one_server_names_a_rooms_channel_by_its_chat() {
        let chat = Uuid::parse_str("0b7e6a52-3c1d-4f5e-8a9b-1c2d3e4f5a6b").unwrap();
        let layout = Layout::Server;
        assert_eq!(layout.partition(Target::Room(chat)), 0);
        assert_eq!(layout.channel(Target::Room(chat)), "chat:room:0b7e6a52-3c1d-4f5e-8a9b-1c2d3e4f5a6b");
    }

    /// What arrives on a channel goes back to whom it was published for: a room's channel is
    /// never taken for a user's of the same id, on one server or a cluster.
    #[test]
    fn a_channel_names_its_target_again() {
        let id = Uuid::new_v4();
        for layout in [Layout::Server, Layout::Cluster] {
            for target in [Target::User(id), Target::Room(id)] {
                assert_eq!(layout.target_of(&layout.channel(target)), Some(target), "{layout:?}");
            }
            assert_eq!(layout.target_of("chat:room:not-a-uuid"), None);
            assert_eq!(layout.target_of("chat:presence:nodes"), None);
        }
    }

    /// A room's channel on a cluster is in the slot of its partition, chosen from the chat id
    /// as a user's is from the user id: it is subscribed on that partition's link.
    #[test]
    fn on_a_cluster_a_rooms_channel_is_in_its_partitions_slot() {
        let layout = Layout::Cluster;
        for _ in 0..200 {
            let chat = Uuid::new_v4();
            let partition = layout.partition(Target::Room(chat));
            assert_eq!(partition, layout.partition(Target::User(chat)), "the same hash as users'");
            assert_eq!(slot_of(&layout.channel(Target::Room(chat))), layout.slot(partition));
            assert!(layout.channel(Target::Room(chat)).ends_with(&format!(":room:{chat}")));
        }
    }

    /// Every channel and key of a user on a cluster is in the user's partition's slot, so a
    /// script or pipeline over them never crosses slots.
    #[test]
    fn on_a_cluster_a_users_channel_and_keys_share_one_slot() {
        let layout = Layout::Cluster;
        for _ in 0..200 {
            let user = Uuid::new_v4();
            let partition = layout.partition(Target::User(user));
            let slot = layout.slot(partition);
            assert_eq!(slot_of(&layout.channel(Target::User(user))), slot);
            assert_eq!(slot_of(&layout.user_key(user)), slot);
            assert_eq!(slot_of(&layout.node_key(partition, "gw-1")), slot);
            assert_eq!(layout.target_of(&layout.channel(Target::User(user))), Some(Target::User(user)));
        }
    }

    /// Partition `i` hashes into slice `i` of the slot space, so evenly split slots mean evenly
    /// spread partitions: 8 each on 3 masters as `redis-cli --cluster create` splits them.
    #[test]
    fn partitions_spread_evenly_over_the_masters() {
        let layout = Layout::Cluster;
        for (partition, tag) in TAGS.iter().enumerate() {
            let slot = usize::from(layout.slot(partition));
            assert_eq!(slot * PARTITIONS / 16384, partition, "tag {tag} is in slot {slot}");
        }
        for masters in [2_usize, 3, 4, 6, 8] {
            let mut per_master = vec![0; masters];
            for partition in 0..PARTITIONS {
                // redis-cli's split: master m holds slots [m·16384/n, (m+1)·16384/n).
                per_master[usize::from(layout.slot(partition)) * masters / 16384] += 1;
            }
            assert!(per_master.iter().all(|n| *n == PARTITIONS / masters), "{masters} masters: {per_master:?}");
        }
    }

    #[test]
    fn users_spread_evenly_over_the_partitions() {
        let layout = Layout::Cluster;
        let mut counts = [0_u32; PARTITIONS];
        for _ in 0..24_000 {
            counts[layout.partition(Target::User(Uuid::new_v4()))] += 1;
        }
        // 1,000 expected each; ±20 % is beyond six standard deviations.
        assert!(counts.iter().all(|n| (800..=1200).contains(n)), "{counts:?}");
    }

    #[test]
    fn grouping_keeps_each_partitions_order() {
        let layout = Layout::Cluster;
        let users: Vec<Uuid> = (0..100).map(|_| Uuid::new_v4()).collect();
        let groups = layout.group(users.iter().copied(), |u| Target::User(*u));
        assert_eq!(groups.iter().map(|(_, g)| g.len()).sum::<usize>(), users.len());
        for (partition, members) in &groups {
            let expected: Vec<Uuid> =
                users.iter().copied().filter(|u| layout.partition(Target::User(*u)) == *partition).collect();
            assert_eq!(members, &expected);
        }
        assert_eq!(Layout::Server.group(users.iter().copied(), |u| Target::User(*u)), vec![(0, users)]);
    }
}
