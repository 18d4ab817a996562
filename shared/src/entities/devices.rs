use sea_orm::entity::prelude::*;

/// A device that receives pushes: auth-api registers them, the notifier pushes to them and
/// deletes the ones a provider says are gone.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "devices")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub user_id: Uuid,
    pub platform: Platform,
    /// FCM registration token, APNs device token, or the Web Push endpoint.
    pub token: String,
    /// Web Push only: the browser's P-256 key and authentication secret, base64url.
    pub p256dh: Option<String>,
    pub auth: Option<String>,
    /// [`migrations::device_token_key`]: unique, so a token belongs to one account.
    pub token_key: String,
    /// The device the old single `fcm_token` (`/register`, `PUT /me/device`) stands for.
    pub legacy: bool,
    pub created_at: DateTimeUtc,
}

/// Which provider reaches a device; the contract's `platform`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum)]
#[sea_orm(rs_type = "String", db_type = "Text")]
pub enum Platform {
    #[sea_orm(string_value = "fcm")]
    Fcm,
    #[sea_orm(string_value = "apns")]
    Apns,
    #[sea_orm(string_value = "webpush")]
    Webpush,
}

impl Platform {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fcm => "fcm",
            Self::Apns => "apns",
            Self::Webpush => "webpush",
        }
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
