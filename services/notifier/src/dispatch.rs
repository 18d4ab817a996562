//! From events to settled pushes: each event's recipient's devices, one push per device and
//! chat (a burst collapses), claimed in `push_deliveries`, sent through the providers at once,
//! and settled by what each provider answered. The Kafka consumer and the retry worker both
//! come here; [`Dispatcher::dispatch`] returns once every push of its events is settled, so the
//! consumer may commit them.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use chrono::{DateTime, Utc};
use futures_util::{StreamExt, stream};
use sea_orm::{ColumnTrait, DatabaseConnection, DbErr, EntityTrait, QueryFilter};
use shared::entities::devices::{self, Column as DeviceColumn, Entity as Device};
use uuid::Uuid;

use crate::{
    config::Preview,
    deliveries::{Deliveries, Due, Key, State},
    event::{Event, Kind, Unreadable},
    metrics::NotifierMetrics,
    providers::{Outcome, Providers},
    push::Push,
};

/// Pushes in flight at once from one dispatcher.
const IN_FLIGHT: usize = 256;
/// Retries back off from 1 s, doubling, to at most this (unless Retry-After says longer).
const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub struct Dispatcher {
    pub(crate) db: DatabaseConnection,
    pub(crate) deliveries: Deliveries,
    pub(crate) providers: Arc<Providers>,
    pub(crate) metrics: Arc<NotifierMetrics>,
    pub(crate) preview: Preview,
    pub(crate) ttl: Duration,
}

/// One push to one device, and the events it stands for (the newest last).
struct Delivery {
    device: devices::Model,
    push: Push,
    keys: Vec<Key>,
    /// When the oldest of its events happened: a push is worth sending for `ttl` after.
    since: DateTime<Utc>,
    occurred_at: DateTime<Utc>,
    attempts: i32,
}

impl Dispatcher {
    /// Pushes `events` to every device of their recipients; Ok once each push is settled
    /// (sent, gone, refused, or waiting in the table for a retry). Err only when the
    /// database failed: the caller tries the same events again, and the claims already
    /// made keep that from pushing twice.
    pub async fn dispatch(&self, events: Vec<Event>) -> Result<(), DbErr> {
        let oldest_worth = Utc::now() - self.ttl_chrono();
        let (events, stale): (Vec<Event>, Vec<Event>) = events.into_iter().partition(|e| e.occurred_at >= oldest_worth);
        self.metrics.events.with_label_values(&["expired"]).inc_by(stale.len() as u64);
        if events.is_empty() {
            return Ok(());
        }
        let devices = self.devices_of(&events).await?;
        let mut deliveries = Vec::new();
        let mut unreached = 0;
        let mut by_user: HashMap<Uuid, Vec<&Event>> = HashMap::new();
        for event in &events {
            by_user.entry(event.user_id).or_default().push(event);
        }
        for (user, events) in &by_user {
            let Some(devices) = devices.get(user) else {
                unreached += events.len();
                continue;
            };
            for group in collapse(events) {
                for device in devices.iter().filter(|device| reaches(device, group[0])) {
                    deliveries.extend(self.delivery(device.clone(), &group));
                }
            }
        }
        self.metrics.events.with_label_values(&["no_devices"]).inc_by(unreached as u64);
        self.metrics.events.with_label_values(&["pushed"]).inc_by((events.len() - unreached) as u64);

        let claims: Vec<(Key, &Push)> =
            deliveries.iter().flat_map(|d| d.keys.iter().map(move |key| (*key, &d.push))).collect();
        let ours = self.deliveries.claim(&claims).await?;
        // What another replica (or an earlier delivery of these events) claimed is its own.
        let deliveries: Vec<Delivery> = deliveries
            .into_iter()
            .filter_map(|mut d| {
                d.keys.retain(|key| ours.contains(key));
                (!d.keys.is_empty()).then_some(d)
            })
            .collect();
        self.send_all(deliveries).await
    }

    /// Sends the pushes the retry worker claimed: each device's newest push for a chat says
    /// what the older ones would have.
    pub async fn redeliver(&self, due: Vec<Due>) -> Result<(), DbErr> {
        let ids: Vec<Uuid> = due.iter().map(|d| d.key.device_id).collect();
        let devices: HashMap<Uuid, devices::Model> = Device::find()
            .filter(DeviceColumn::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        let mut due = due;
        // Oldest first, so each device's and chat's newest push is the one sent.
        due.sort_by_key(|d| d.created_at);
        let mut deliveries: BTreeMap<(Uuid, Option<String>), Delivery> = BTreeMap::new();
        let mut orphans = Vec::new();
        for due in due {
            let (Some(device), Some(push)) = (devices.get(&due.key.device_id), due.push) else {
                // The device was forgotten meanwhile, or the row lost its push.
                orphans.push(due.key);
                continue;
            };
            let slot = (device.id, push.collapse_key.clone());
            let delivery = deliveries.entry(slot).or_insert_with(|| Delivery {
                device: device.clone(),
                push: push.clone(),
                keys: Vec::new(),
                since: due.created_at,
                occurred_at: due.created_at,
                attempts: due.attempts,
            });
            delivery.keys.push(due.key);
            delivery.push = push;
            delivery.occurred_at = due.created_at;
            delivery.attempts = delivery.attempts.max(due.attempts);
        }
        self.deliveries.settle(&orphans, State::Rejected, Some("device forgotten")).await?;
        self.send_all(deliveries.into_values().collect()).await
    }

    /// The event in a record's `value`, or None (counted, and logged with `origin`) for
    /// what does not push: a poison event is skipped, never retried.
    pub fn read(&self, value: &[u8], origin: impl FnOnce() -> String) -> Option<Event> {
        match Event::parse(value) {
            Ok(event) => Some(event),
            Err(Unreadable::Ignored(kind)) => {
                tracing::debug!(event_type = kind, "event type pushes nothing");
                self.metrics.events.with_label_values(&["ignored"]).inc();
                None
            }
            Err(err @ Unreadable::Poison(_)) => {
                tracing::error!(origin = origin(), error = %err, "poison event skipped");
                self.metrics.events.with_label_values(&["poison"]).inc();
                None
            }
        }
    }

    fn delivery(&self, device: devices::Model, group: &[&Event]) -> Option<Delivery> {
        let push = Push::of(group, self.preview, self.ttl)?;
        let keys = group.iter().map(|e| Key { event_id: e.event_id, device_id: device.id }).collect();
        let since = group.iter().map(|e| e.occurred_at).min()?;
        let occurred_at = group.iter().map(|e| e.occurred_at).max()?;
        Some(Delivery { device, push, keys, since, occurred_at, attempts: 1 })
    }

    async fn send_all(&self, deliveries: Vec<Delivery>) -> Result<(), DbErr> {
        let sent: Vec<(Delivery, Outcome)> = stream::iter(deliveries)
            .map(|d| async move {
                let outcome = self.providers.send(&d.device, &d.push).await;
                (d, outcome)
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        self.settle(sent).await
    }

    /// Writes what became of each push, a statement per state.
    async fn settle(&self, sent: Vec<(Delivery, Outcome)>) -> Result<(), DbErr> {
        let mut finished: BTreeMap<&'static str, (State, Vec<Key>)> = BTreeMap::new();
        let mut gone_devices = Vec::new();
        let mut retries: Vec<(Vec<Key>, DateTime<Utc>, String)> = Vec::new();
        let mut finish = |state: State, keys: &[Key]| {
            finished.entry(state.as_str()).or_insert_with(|| (state, Vec::new())).1.extend_from_slice(keys);
        };
        let now = Utc::now();
        for (d, outcome) in &sent {
            let platform = d.device.platform.as_str();
            let (lead, rest) =
                d.keys.split_last().map_or((&[][..], &[][..]), |(lead, rest)| (std::slice::from_ref(lead), rest));
            let collapsed = rest.len() as u64;
            match outcome {
                Outcome::Sent => {
                    finish(State::Sent, lead);
                    finish(State::Collapsed, rest);
                    let delay = (now - d.occurred_at).to_std().unwrap_or_default();
                    self.metrics.delay.with_label_values(&[platform]).observe(delay.as_secs_f64());
                }
                Outcome::Gone { reason } => {
                    tracing::info!(device_id = %d.device.id, platform, reason, "device gone: forgotten");
                    gone_devices.push(d.device.id);
                    finish(State::Gone, &d.keys);
                }
                Outcome::Rejected { reason } => {
                    tracing::warn!(device_id = %d.device.id, platform, reason, "push refused for good");
                    finish(State::Rejected, &d.keys);
                }
                Outcome::Retry { after, reason } => {
                    let wait = after.unwrap_or_else(|| backoff(d.attempts));
                    let at = now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::seconds(30));
                    if at > d.since + self.ttl_chrono() {
                        tracing::warn!(device_id = %d.device.id, platform, reason, "push expired while retrying");
                        finish(State::Expired, &d.keys);
                        self.metrics.pushes.with_label_values(&[platform, "expired"]).inc();
                        continue;
                    }
                    tracing::debug!(device_id = %d.device.id, platform, reason, ?wait, "push to be retried");
                    finish(State::Collapsed, rest);
                    retries.push((lead.to_vec(), at, reason.clone()));
                }
            }
            self.metrics.pushes.with_label_values(&[platform, outcome.label()]).inc();
            if collapsed > 0 && !matches!(outcome, Outcome::Gone { .. } | Outcome::Rejected { .. }) {
                self.metrics.pushes.with_label_values(&[platform, "collapsed"]).inc_by(collapsed);
            }
        }
        if !gone_devices.is_empty() {
            Device::delete_many().filter(DeviceColumn::Id.is_in(gone_devices)).exec(&self.db).await?;
        }
        for (state, keys) in finished.into_values() {
            self.deliveries.settle(&keys, state, None).await?;
        }
        for (keys, at, reason) in retries {
            self.deliveries.retry_at(&keys, at, &reason).await?;
        }
        Ok(())
    }

    async fn devices_of(&self, events: &[Event]) -> Result<HashMap<Uuid, Vec<devices::Model>>, DbErr> {
        let mut users: Vec<Uuid> = events.iter().map(|e| e.user_id).collect();
        users.sort_unstable();
        users.dedup();
        let mut by_user: HashMap<Uuid, Vec<devices::Model>> = HashMap::new();
        for chunk in users.chunks(1000) {
            let rows = Device::find().filter(DeviceColumn::UserId.is_in(chunk.to_vec())).all(&self.db).await?;
            for device in rows.into_iter().filter(|d| self.providers.serves(d.platform)) {
                by_user.entry(device.user_id).or_default().push(device);
            }
        }
        Ok(by_user)
    }

    fn ttl_chrono(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(1))
    }
}

/// Whether `event` is pushed to `device`. The welcome goes, as the original service sent it,
/// to the device given at registration (the `fcm_token` of `/register`, stored in the same
/// transaction), not to the devices registered after it, which were not there to welcome.
fn reaches(device: &devices::Model, event: &Event) -> bool {
    match event.kind {
        Kind::MessageCreated => true,
        Kind::UserRegistered => device.legacy && device.created_at <= event.occurred_at + chrono::Duration::seconds(1),
    }
}

/// One recipient's events, in the order read, as the pushes they make: a chat's messages
/// together, each welcome alone.
fn collapse<'a>(events: &[&'a Event]) -> Vec<Vec<&'a Event>> {
    let mut groups: Vec<Vec<&Event>> = Vec::new();
    let mut by_chat: HashMap<Uuid, usize> = HashMap::new();
    for event in events {
        match (event.kind, event.chat_id) {
            (Kind::MessageCreated, Some(chat)) => match by_chat.get(&chat) {
                Some(&i) => groups[i].push(event),
                None => {
                    by_chat.insert(chat, groups.len());
                    groups.push(vec![event]);
                }
            },
            _ => groups.push(vec![event]),
        }
    }
    groups
}

/// The wait before attempt `attempts + 1`: 1 s doubling to [`MAX_BACKOFF`], with a fifth of
/// jitter so pushes refused together do not come back together.
fn backoff(attempts: i32) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1 << attempts.clamp(1, 16).saturating_sub(1)).min(MAX_BACKOFF);
    let jitter = base.as_millis() as u64 / 5;
    let spread = if jitter == 0 { 0 } else { u64::from(Uuid::new_v4().as_u128() as u32) % jitter };
    base - Duration::from_millis(jitter / 2) + Duration::from_millis(spread)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(chat: Option<Uuid>) -> Event {
        Event {
            event_id: Uuid::new_v4(),
            kind: if chat.is_some() { Kind::MessageCreated } else { Kind::UserRegistered },
            occurred_at: Utc::now(),
            user_id: Uuid::nil(),
            header: String::new(),
            body: String::new(),
            chat_id: chat,
            message_id: chat.map(|_| 1),
        }
    }

    #[test]
    fn a_chats_messages_collapse_and_welcomes_stay_alone() {
        let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
        let events = [event(Some(a)), event(Some(b)), event(None), event(Some(a)), event(None)];
        let refs: Vec<&Event> = events.iter().collect();
        let groups = collapse(&refs);
        let ids = |g: &Vec<&Event>| g.iter().map(|e| e.event_id).collect::<Vec<_>>();
        assert_eq!(groups.len(), 4);
        assert_eq!(ids(&groups[0]), [events[0].event_id, events[3].event_id]);
        assert_eq!(ids(&groups[1]), [events[1].event_id]);
        assert_eq!(ids(&groups[2]), [events[2].event_id]);
        assert_eq!(ids(&groups[3]), [events[4].event_id]);
    }

    #[test]
    fn the_welcome_goes_to_the_device_given_at_registration_only() {
        let welcome = event(None);
        let device = |legacy: bool, after: i64| devices::Model {
            id: Uuid::new_v4(),
            user_id: Uuid::nil(),
            platform: shared::entities::devices::Platform::Fcm,
            token: "t".into(),
            p256dh: None,
            auth: None,
            token_key: "k".into(),
            legacy,
            created_at: welcome.occurred_at + chrono::Duration::milliseconds(after),
        };
        assert!(reaches(&device(true, 3), &welcome));
        assert!(!reaches(&device(false, 3), &welcome), "registered after, through /me/devices");
        assert!(!reaches(&device(true, 60_000), &welcome), "PUT /me/device a minute later");
        assert!(reaches(&device(false, 60_000), &event(Some(Uuid::new_v4()))), "messages reach every device");
    }

    #[test]
    fn backoff_doubles_to_its_ceiling_with_jitter() {
        for (attempts, base) in [(1, 1_000u64), (2, 2_000), (3, 4_000), (5, 16_000), (6, 30_000), (40, 30_000)] {
            for _ in 0..20 {
                let wait = backoff(attempts).as_millis() as u64;
                assert!(wait >= base - base / 10 && wait <= base + base / 10, "{attempts}: {wait} vs {base}");
            }
        }
    }
}
