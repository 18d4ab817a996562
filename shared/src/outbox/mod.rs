//! Notification events and the outbox they wait in. An event is written in the same
//! transaction as the change it reports, so it exists exactly when the change does; a relay
//! publishes it to Kafka afterwards, at least once, and consumers drop duplicates by `event_id`.
//! Every service that reports changes writes events; the relay (`relay/`, with the `kafka`
//! feature) is run by auth-api, so the services that only write do not link librdkafka.

#[cfg(feature = "kafka")]
pub mod relay;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait};
use serde::Serialize;
use uuid::Uuid;

use crate::entities::notification_outbox;

/// The record value of the contract: what the original notification worker reads (`header`,
/// `body`) and a typed envelope around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NotificationEvent {
    pub header: String,
    pub body: String,
    pub event_id: Uuid,
    pub event_type: &'static str,
    pub schema_version: u32,
    pub occurred_at: String,
    pub user_id: Uuid,
    pub username: String,
    pub fcm_token: Option<String>,
    /// For `message.created`: which message, so the phone can open its chat.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub message: Option<MessageRef>,
}

/// The message a `message.created` event is about.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageRef {
    pub chat_id: Uuid,
    pub message_id: i64,
    pub sender_id: Uuid,
}

/// Longest message preview in a push, in characters.
pub const PREVIEW_CHARS: usize = 100;

impl NotificationEvent {
    pub const SCHEMA_VERSION: u32 = 1;

    /// `user.registered`: the welcome push of the original service, word for word.
    pub fn user_registered(user_id: Uuid, username: &str, fcm_token: Option<String>, at: DateTime<Utc>) -> Self {
        Self {
            header: format!("Welcome to chat application: {username}"),
            body: "Good to see you!".into(),
            event_id: Uuid::new_v4(),
            event_type: "user.registered",
            schema_version: Self::SCHEMA_VERSION,
            occurred_at: crate::timestamp::rfc3339(at),
            user_id,
            username: username.into(),
            fcm_token,
            message: None,
        }
    }

    /// `user.deleted`: consumers forget the account. It names nobody (`username` is empty):
    /// the name was the account's, and is gone with it.
    pub fn user_deleted(user_id: Uuid, at: DateTime<Utc>) -> Self {
        Self {
            header: "Account deleted".into(),
            body: String::new(),
            event_id: Uuid::new_v4(),
            event_type: "user.deleted",
            schema_version: Self::SCHEMA_VERSION,
            occurred_at: crate::timestamp::rfc3339(at),
            user_id,
            username: String::new(),
            fcm_token: None,
            message: None,
        }
    }

    /// `message.created`: a push for a recipient with no live connection. `user_id`,
    /// `username` and `fcm_token` are the recipient's; the body is a short preview.
    pub fn message_created(
        recipient: &crate::entities::users::Model,
        sender_username: &str,
        content: &str,
        message: MessageRef,
        at: DateTime<Utc>,
    ) -> Self {
        let mut body: String = content.chars().take(PREVIEW_CHARS).collect();
        if content.chars().nth(PREVIEW_CHARS).is_some() {
            body.push('…');
        }
        Self {
            header: format!("New message from: {sender_username}"),
            body,
            event_id: Uuid::new_v4(),
            event_type: "message.created",
            schema_version: Self::SCHEMA_VERSION,
            occurred_at: crate::timestamp::rfc3339(at),
            user_id: recipient.id,
            username: recipient.username.clone(),
            fcm_token: recipient.fcm_token.clone(),
            message: Some(message),
        }
    }
}

/// Writes the event into the outbox on `conn`, which should be the transaction of the change
/// the event reports. The record key is the user the event is about.
pub async fn enqueue(conn: &impl ConnectionTrait, event: &NotificationEvent) -> Result<(), DbErr> {
    let payload = serde_json::to_value(event).map_err(|e| DbErr::Custom(e.to_string()))?;
    let row = notification_outbox::ActiveModel {
        event_id: Set(event.event_id),
        event_type: Set(event.event_type.into()),
        key: Set(event.user_id.to_string()),
        payload: Set(payload),
        created_at: Set(Utc::now()),
        delivered_at: Set(None),
        attempts: Set(0),
        claimed_until: Set(None),
        claimed_by: Set(None),
        last_error: Set(None),
        parked_at: Set(None),
        ..Default::default()
    };
    notification_outbox::Entity::insert(row).exec_without_returning(conn).await?;
    if conn.get_database_backend() == DatabaseBackend::Postgres {
        // Delivered at commit, to the relay of every replica.
        conn.execute_unprepared(&format!("NOTIFY {WAKEUP_CHANNEL}")).await?;
    }
    Ok(())
}

/// The Postgres channel `enqueue` notifies, so relays pick new events up at once.
pub const WAKEUP_CHANNEL: &str = "chat_suite_outbox";

/// Wakes this process's relay after a commit that enqueued events (the way SQLite, which has
/// no NOTIFY, gets the same latency). Cheap and harmless when no relay runs.
#[derive(Clone, Default)]
pub struct Wakeup(std::sync::Arc<tokio::sync::Notify>);

impl Wakeup {
    pub fn wake(&self) {
        self.0.notify_one();
    }

    pub async fn woken(&self) {
        self.0.notified().await;
    }
}
