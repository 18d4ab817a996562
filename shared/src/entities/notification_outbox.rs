use sea_orm::entity::prelude::*;

/// A notification event waiting to be (or already) relayed to Kafka.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "notification_outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub event_id: Uuid,
    pub event_type: String,
    pub key: String,
    pub payload: Json,
    pub created_at: DateTimeUtc,
    pub delivered_at: Option<DateTimeUtc>,
    pub attempts: i32,
    /// Until when a relay holds the event, or (after a failure) when it may be retried.
    pub claimed_until: Option<DateTimeUtc>,
    pub claimed_by: Option<String>,
    pub last_error: Option<String>,
    /// Set when the broker refused the event for good; it no longer blocks its key.
    pub parked_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
