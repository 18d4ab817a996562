//! The caller's devices (`/me/devices`) and the VAPID key browsers subscribe with.

use std::sync::Arc;

use base64::{
    Engine,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig, general_purpose::URL_SAFE_NO_PAD},
};
use poem::web::Data;
use poem_openapi::{ApiResponse, Enum, Object, OpenApi, param::Path, payload::Json, types::Example};
use shared::{
    ApiError, ApiResult,
    entities::devices::{self as device_rows, Platform},
    http::{
        BearerAuth, Refusal, Refusals, Refused, Text,
        refusals::{BEARER, DEPENDENCIES, INVALID_FIELD, JSON_BODY, UNPARSED_PARAMETER},
    },
    text_rule::TextRule,
    timestamp::{Timestamp, timestamp},
};
use uuid::Uuid;

use super::{
    JsonBody, Tag,
    accounts::{ACCOUNT_GONE, FcmToken, caller},
};
use crate::{
    devices::{self, NewDevice, WebPushKeys},
    state::AuthState,
};

pub struct DevicesApi;

/// Which provider reaches the device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename = "Platform", rename_all = "lowercase")]
pub enum PlatformName {
    /// Firebase Cloud Messaging (Android, and iOS apps that use Firebase).
    Fcm,
    /// Apple Push Notification service.
    Apns,
    /// A browser's push service (the Push API).
    Webpush,
}

impl From<PlatformName> for Platform {
    fn from(name: PlatformName) -> Self {
        match name {
            PlatformName::Fcm => Self::Fcm,
            PlatformName::Apns => Self::Apns,
            PlatformName::Webpush => Self::Webpush,
        }
    }
}

impl From<Platform> for PlatformName {
    fn from(platform: Platform) -> Self {
        match platform {
            Platform::Fcm => Self::Fcm,
            Platform::Apns => Self::Apns,
            Platform::Webpush => Self::Webpush,
        }
    }
}

/// A device to push to: `token` for `fcm` and `apns`, `subscription` for `webpush`.
#[derive(Debug, Object)]
#[oai(deny_unknown_fields, example)]
pub struct DeviceRegistration {
    /// `fcm`, `apns` or `webpush`: which provider reaches the device.
    pub platform: PlatformName,
    /// `fcm`: the registration token; `apns`: the device token, hex. Absent or null for
    /// `webpush`.
    #[oai(nullable)]
    pub token: Option<Text<FcmToken>>,
    /// `webpush`: the browser's `PushSubscription`, as its `toJSON()` gives it. Absent or null
    /// for `fcm` and `apns`.
    #[oai(nullable)]
    pub subscription: Option<PushSubscription>,
}

impl Example for DeviceRegistration {
    fn example() -> Self {
        Self { platform: PlatformName::Fcm, token: Some("fcm-token-of-this-device".into()), subscription: None }
    }
}

/// A browser's push subscription (the Push API's `PushSubscription.toJSON()`).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct PushSubscription {
    /// The push service's URL for this browser: https, on a push service's host.
    pub endpoint: String,
    /// When the browser lets the subscription lapse (ms since the epoch); not used.
    #[oai(rename = "expirationTime", nullable)]
    pub expiration_time: Option<f64>,
    /// The keys the push payload is encrypted to.
    pub keys: SubscriptionKeys,
}

/// The browser's keys the push payload is encrypted to (RFC 8291).
#[derive(Debug, Object)]
#[oai(deny_unknown_fields)]
pub struct SubscriptionKeys {
    /// Its P-256 public key, an uncompressed point, base64url.
    pub p256dh: String,
    /// Its 16-byte authentication secret, base64url.
    pub auth: String,
}

/// A registered device.
#[derive(Debug, Object)]
#[oai(example)]
pub struct DeviceView {
    /// The device's id, for `DELETE /me/devices/{device_id}`.
    pub device_id: Uuid,
    /// Which provider reaches it.
    pub platform: PlatformName,
    /// RFC 3339, UTC, milliseconds.
    pub created_at: Text<Timestamp>,
}

impl Example for DeviceView {
    fn example() -> Self {
        Self {
            device_id: Uuid::from_u128(0x9b1d_eb4d_3b7d_4bad_9bdd_2b0d_7b3d_cb6d),
            platform: PlatformName::Fcm,
            created_at: "2026-12-07T09:50:00.000Z".into(),
        }
    }
}

impl From<device_rows::Model> for DeviceView {
    fn from(row: device_rows::Model) -> Self {
        Self { device_id: row.id, platform: row.platform.into(), created_at: timestamp(row.created_at) }
    }
}

/// The caller's devices, newest first.
#[derive(Debug, Object)]
pub struct DeviceList {
    /// Newest first.
    pub devices: Vec<DeviceView>,
}

#[derive(Debug, ApiResponse)]
pub enum DeviceRegistered {
    /// Registered (or, for a token or endpoint the caller registered before, the device it is).
    #[oai(status = 201)]
    Created(Json<DeviceView>),
}

#[derive(Debug, ApiResponse)]
pub enum DeviceForgotten {
    /// Forgotten: it gets no more pushes.
    #[oai(status = 204)]
    NoContent,
}

/// The VAPID public key.
#[derive(Debug, Object)]
#[oai(example)]
pub struct VapidPublicKey {
    /// An uncompressed P-256 point, base64url without padding: `applicationServerKey` of
    /// `pushManager.subscribe`.
    pub public_key: String,
}

impl Example for VapidPublicKey {
    fn example() -> Self {
        Self {
            public_key: "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
                .into(),
        }
    }
}

const NO_SUCH_DEVICE: Refusal = Refusal::new(404, "not_found", "The caller has no device with this id.");

/// What `POST /me/devices` refuses.
pub enum RegisterDeviceRefusals {}

impl Refusals for RegisterDeviceRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, JSON_BODY, &[INVALID_FIELD, ACCOUNT_GONE], DEPENDENCIES];
}

/// What `GET /me/devices` refuses.
pub enum ListDevicesRefusals {}

impl Refusals for ListDevicesRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[ACCOUNT_GONE], DEPENDENCIES];
}

/// What `DELETE /me/devices/{device_id}` refuses.
pub enum ForgetDeviceRefusals {}

impl Refusals for ForgetDeviceRefusals {
    const LIST: &'static [&'static [Refusal]] = &[BEARER, &[UNPARSED_PARAMETER, NO_SUCH_DEVICE], DEPENDENCIES];
}

/// The VAPID key, or that this server has none.
#[derive(Debug, ApiResponse)]
pub enum VapidKeyAnswer {
    /// The key browsers subscribe with.
    #[oai(status = 200)]
    Ok(Json<VapidPublicKey>),
    /// This server has no Web Push (no `VAPID_PRIVATE_KEY_FILE`): an answer, not an error, so
    /// a page that asks on every load logs nothing.
    #[oai(status = 204)]
    NoWebPush,
}

#[OpenApi(tag = "Tag::Devices")]
impl DevicesApi {
    /// Register a device of the caller's for pushes.
    #[oai(path = "/me/devices", method = "post", operation_id = "register_device")]
    async fn register_device(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        body: JsonBody<DeviceRegistration>,
    ) -> Result<DeviceRegistered, Refused<RegisterDeviceRefusals>> {
        let new = parse_device(&state, body.0)?;
        let user = caller(&state, &auth).await?;
        let device = devices::register(&state.db, user.id, &new, false).await?;
        tracing::info!(user_id = %user.id, device_id = %device.id, platform = device.platform.as_str(), "device registered");
        Ok(DeviceRegistered::Created(Json(device.into())))
    }

    /// The caller's devices, newest first.
    #[oai(path = "/me/devices", method = "get", operation_id = "list_devices")]
    async fn list_devices(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
    ) -> Result<Json<DeviceList>, Refused<ListDevicesRefusals>> {
        let user = caller(&state, &auth).await?;
        let devices = devices::list(&state.db, user.id).await?.into_iter().map(DeviceView::from).collect();
        Ok(Json(DeviceList { devices }))
    }

    /// Forget one of the caller's devices.
    #[oai(path = "/me/devices/:device_id", method = "delete", operation_id = "forget_device")]
    async fn forget_device(
        &self,
        state: Data<&Arc<AuthState>>,
        auth: BearerAuth,
        /// The device's id, as registered.
        device_id: Path<Uuid>,
    ) -> Result<DeviceForgotten, Refused<ForgetDeviceRefusals>> {
        if devices::forget(&state.db, auth.0.sub, device_id.0).await? {
            Ok(DeviceForgotten::NoContent)
        } else {
            Err(ApiError::not_found("you have no device with this id").into())
        }
    }

    /// The VAPID public key browsers subscribe with (no authentication).
    #[oai(path = "/push/vapid-public-key", method = "get", operation_id = "vapid_public_key")]
    async fn vapid_public_key(&self, state: Data<&Arc<AuthState>>) -> VapidKeyAnswer {
        match &state.vapid_public_key {
            Some(key) => VapidKeyAnswer::Ok(Json(VapidPublicKey { public_key: key.clone() })),
            None => VapidKeyAnswer::NoWebPush,
        }
    }
}

/// The device a registration names, checked: the fields its platform needs and no other.
fn parse_device(state: &AuthState, body: DeviceRegistration) -> ApiResult<NewDevice> {
    let platform = Platform::from(body.platform);
    if let Some(token) = &body.token
        && FcmToken::check(token).is_err()
    {
        return Err(ApiError::invalid_field("token", "token: must be 1 to 4096 printable characters without spaces"));
    }
    match (platform, body.token, body.subscription) {
        (Platform::Fcm, Some(token), None) => Ok(NewDevice { platform, token: token.into_string(), keys: None }),
        (Platform::Apns, Some(token), None) => {
            let token = token.into_string().to_ascii_lowercase();
            if !is_apns_token(&token) {
                return Err(ApiError::invalid_field("token", "token: an APNs device token is 64 to 200 hex digits"));
            }
            Ok(NewDevice { platform, token, keys: None })
        }
        (Platform::Webpush, None, Some(sub)) => {
            state.webpush_hosts.check(&sub.endpoint).map_err(|why| {
                ApiError::invalid_field("subscription.endpoint", format!("subscription.endpoint: {why}"))
            })?;
            let p256dh = key_bytes(&sub.keys.p256dh)
                .filter(|k| k.len() == 65 && k[0] == 4)
                .ok_or_else(|| invalid_key("p256dh", "an uncompressed P-256 point (65 bytes), base64url"))?;
            let auth = key_bytes(&sub.keys.auth)
                .filter(|k| k.len() == 16)
                .ok_or_else(|| invalid_key("auth", "16 bytes, base64url"))?;
            let keys = WebPushKeys { p256dh: URL_SAFE_NO_PAD.encode(p256dh), auth: URL_SAFE_NO_PAD.encode(auth) };
            Ok(NewDevice { platform, token: sub.endpoint, keys: Some(keys) })
        }
        (Platform::Webpush, _, _) => Err(ApiError::invalid_field(
            "subscription",
            "subscription: a webpush device is registered with its subscription (and no token)",
        )),
        _ => Err(ApiError::invalid_field(
            "token",
            "token: an fcm or apns device is registered with its token (and no subscription)",
        )),
    }
}

/// Browsers give the keys base64url without padding; some libraries pad them.
fn key_bytes(text: &str) -> Option<Vec<u8>> {
    const LENIENT: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

fn invalid_key(name: &str, what: &str) -> ApiError {
    let field = format!("subscription.keys.{name}");
    ApiError::invalid_field(&field, format!("{field}: must be {what}"))
}

/// APNs device tokens are 32 bytes today; Apple says to expect them to grow.
fn is_apns_token(token: &str) -> bool {
    (64..=200).contains(&token.len()) && token.len().is_multiple_of(2) && token.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apns_tokens_are_even_runs_of_hex_digits() {
        assert!(is_apns_token(&"ab".repeat(32)));
        assert!(is_apns_token(&"0f".repeat(100)));
        assert!(!is_apns_token(&"ab".repeat(31)));
        assert!(!is_apns_token(&format!("{}a", "ab".repeat(40))));
        assert!(!is_apns_token(&"zz".repeat(32)));
    }

    #[test]
    fn keys_are_read_padded_or_not() {
        assert_eq!(key_bytes("AAECAwQFBgcICQoLDA0ODw").map(|k| k.len()), Some(16));
        assert_eq!(key_bytes("AAECAwQFBgcICQoLDA0ODw==").map(|k| k.len()), Some(16));
        assert_eq!(key_bytes("AAECAwQFBgcICQoLDA0ODw+/"), None);
    }
}
