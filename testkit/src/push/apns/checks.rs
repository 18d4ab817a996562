//! What APNs checks on one notification request, and the answer for each check that fails:
//! the status and the `reason` of Apple's "Handling notification responses from APNs".

use std::collections::BTreeMap;

use hyper::{StatusCode, http::request::Parts};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;

use super::{KEY_ID, TEAM_ID, TOPIC};

const MAX_PAYLOAD_BYTES: usize = 4096;
const MAX_COLLAPSE_ID_BYTES: usize = 64;
/// Apple refuses a provider token older than an hour.
const TOKEN_LIFETIME_SECS: i64 = 60 * 60;
const PUSH_TYPES: [&str; 10] = [
    "alert",
    "background",
    "location",
    "voip",
    "complication",
    "fileprovider",
    "mdm",
    "liveactivity",
    "pushtotalk",
    "widgets",
];

/// An answer other than 200.
pub(super) struct Refusal {
    pub status: StatusCode,
    pub reason: &'static str,
    /// What was wrong, for `refused()`; None for answers that are the stand-in's state
    /// (down, scripted, a forgotten device) rather than a check failing.
    pub detail: Option<String>,
    pub retry_after: Option<u64>,
    /// Unix milliseconds: when a device stopped taking pushes (410).
    pub timestamp: Option<u128>,
}

impl Refusal {
    pub fn new(status: StatusCode, reason: &'static str, detail: impl Into<String>) -> Self {
        Self { status, reason, detail: Some(detail.into()), retry_after: None, timestamp: None }
    }

    pub fn answer(status: StatusCode, reason: &'static str) -> Self {
        Self { status, reason, detail: None, retry_after: None, timestamp: None }
    }
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    iat: Option<i64>,
}

/// The device token from `/3/device/<token>`.
pub(super) fn device_token(path: &str) -> Result<&str, Refusal> {
    let Some(token) = path.strip_prefix("/3/device/") else {
        return Err(Refusal::new(StatusCode::NOT_FOUND, "BadPath", path));
    };
    if token.is_empty() {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "MissingDeviceToken", "no token in the path"));
    }
    if token.len() < 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "BadDeviceToken",
            format!("{token:?} is not 64+ hex digits"),
        ));
    }
    Ok(token)
}

/// `authorization: bearer <ES256 JWT>` signed with the team's key, with Apple's kid and iss,
/// issued in the last hour and not later than `now`; its `iat`.
pub(super) fn provider_token(parts: &Parts, key: &DecodingKey, now: i64) -> Result<i64, Refusal> {
    let invalid = |detail: &str| Refusal::new(StatusCode::FORBIDDEN, "InvalidProviderToken", detail);
    let Some(authorization) = header(parts, "authorization") else {
        return Err(Refusal::new(StatusCode::FORBIDDEN, "MissingProviderToken", "no authorization header"));
    };
    let Some(jwt) = authorization.strip_prefix("bearer ").or_else(|| authorization.strip_prefix("Bearer ")) else {
        return Err(invalid("authorization is not `bearer <token>`"));
    };
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| invalid(&format!("not a JWT: {e}")))?;
    if header.alg != Algorithm::ES256 {
        return Err(invalid(&format!("alg {:?}, not ES256", header.alg)));
    }
    if header.kid.as_deref() != Some(KEY_ID) {
        return Err(invalid(&format!("kid {:?}, not the key's id {KEY_ID}", header.kid)));
    }
    let mut validation = Validation::new(Algorithm::ES256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<Claims>(jwt, key, &validation)
        .map_err(|e| invalid(&format!("does not verify with the team's key: {e}")))?
        .claims;
    if claims.iss.as_deref() != Some(TEAM_ID) {
        return Err(invalid(&format!("iss {:?}, not the team {TEAM_ID}", claims.iss)));
    }
    let Some(iat) = claims.iat else { return Err(invalid("no iat")) };
    if iat > now {
        return Err(invalid(&format!("iat {iat} is {}s in the future", iat - now)));
    }
    if now - iat > TOKEN_LIFETIME_SECS {
        let detail = format!("iat {iat} is {}s old, over an hour", now - iat);
        return Err(Refusal::new(StatusCode::FORBIDDEN, "ExpiredProviderToken", detail));
    }
    Ok(iat)
}

/// The headers beside the token: topic, push type, priority, expiration, collapse id.
pub(super) fn check_headers(parts: &Parts) -> Result<(), Refusal> {
    let bad = |reason, detail: String| Err(Refusal::new(StatusCode::BAD_REQUEST, reason, detail));
    match header(parts, "apns-topic") {
        None => return bad("MissingTopic", "no apns-topic".to_owned()),
        Some(topic) if topic != TOPIC => return bad("TopicDisallowed", format!("topic {topic:?}, not {TOPIC}")),
        Some(_) => {}
    }
    match header(parts, "apns-push-type") {
        Some(push_type) if PUSH_TYPES.contains(&push_type) => {}
        other => return bad("InvalidPushType", format!("apns-push-type {other:?}")),
    }
    if let Some(priority) = header(parts, "apns-priority")
        && !["1", "5", "10"].contains(&priority)
    {
        return bad("BadPriority", format!("apns-priority {priority:?}"));
    }
    if let Some(expiration) = header(parts, "apns-expiration")
        && expiration.parse::<u64>().is_err()
    {
        return bad("BadExpirationDate", format!("apns-expiration {expiration:?}"));
    }
    if let Some(collapse_id) = header(parts, "apns-collapse-id")
        && collapse_id.len() > MAX_COLLAPSE_ID_BYTES
    {
        return bad("BadCollapseId", format!("apns-collapse-id of {} bytes", collapse_id.len()));
    }
    Ok(())
}

/// The alert's title and body and the data beside `aps`.
pub(super) fn read_payload(body: &[u8]) -> Result<(String, String, BTreeMap<String, String>), Refusal> {
    if body.len() > MAX_PAYLOAD_BYTES {
        let detail = format!("{} bytes, over {MAX_PAYLOAD_BYTES}", body.len());
        return Err(Refusal::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", detail));
    }
    if body.is_empty() {
        return Err(Refusal::new(StatusCode::BAD_REQUEST, "PayloadEmpty", "no payload"));
    }
    // Apple's list has no reason of its own for a payload that is not JSON.
    let malformed = |detail: &str| Refusal::new(StatusCode::BAD_REQUEST, "PayloadEmpty", detail);
    let Ok(Value::Object(mut payload)) = serde_json::from_slice::<Value>(body) else {
        return Err(malformed("not a JSON object"));
    };
    let Some(Value::Object(aps)) = payload.remove("aps") else {
        return Err(malformed("no aps dictionary"));
    };
    let text = |value: Option<&Value>| value.and_then(Value::as_str).unwrap_or_default().to_owned();
    let (title, body) = match aps.get("alert") {
        Some(Value::Object(alert)) => (text(alert.get("title")), text(alert.get("body"))),
        Some(Value::String(body)) => (String::new(), body.clone()),
        _ => (String::new(), String::new()),
    };
    let data = payload
        .into_iter()
        .map(|(key, value)| match value {
            Value::String(text) => (key, text),
            other => (key, other.to_string()),
        })
        .collect();
    Ok((title, body, data))
}

pub(super) fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|value| value.to_str().ok())
}
