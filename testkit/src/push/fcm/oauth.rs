//! The stand-in's Google OAuth token endpoint: the JWT bearer grant (RFC 7523) a service account
//! makes, checked as Google checks it, answered with an access token or Google's OAuth error.

use std::{
    collections::HashMap,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use hyper::StatusCode;
use jsonwebtoken::{Algorithm, Validation};
use serde::Deserialize;
use serde_json::json;

use super::{Answer, CLIENT_EMAIL, State, answer};

const SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// What Google grants: an hour, less a second.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3599);
/// How far ahead of the stand-in's clock an assertion's `iat` may be.
const CLOCK_SKEW_SECS: i64 = 60;

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Google's token endpoint (https://oauth2.googleapis.com/token) for a service account's grant.
pub(super) fn token_endpoint(state: &State, body: &[u8]) -> Answer {
    match check_grant(state, body) {
        Ok(()) => {
            let token = format!("ya29.stand-in-{}", uuid::Uuid::new_v4().simple());
            let mut book = state.book.lock().unwrap();
            book.tokens.insert(token.clone(), Instant::now() + TOKEN_LIFETIME);
            book.tokens_issued += 1;
            let body = json!({"access_token": token, "expires_in": TOKEN_LIFETIME.as_secs(), "token_type": "Bearer"});
            answer(StatusCode::OK, body, None)
        }
        Err((error, description)) => {
            state.book.lock().unwrap().refused.push(format!("token endpoint: {error}: {description}"));
            answer(StatusCode::BAD_REQUEST, json!({"error": error, "error_description": description}), None)
        }
    }
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: Option<String>,
    aud: Option<String>,
    scope: Option<String>,
    iat: Option<i64>,
    exp: Option<i64>,
}

/// The grant's checks, each failure as Google's `(error, error_description)`.
fn check_grant(state: &State, body: &[u8]) -> Result<(), (&'static str, String)> {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body)
        .map_err(|e| ("invalid_request", format!("Request body is not form-encoded: {e}")))?;
    match form.get("grant_type").map(String::as_str) {
        Some(GRANT_TYPE) => {}
        Some(other) => return Err(("unsupported_grant_type", format!("Invalid grant_type: {other}"))),
        None => return Err(("unsupported_grant_type", "Invalid grant_type: ".into())),
    }
    let assertion =
        form.get("assertion").ok_or(("invalid_request", "Missing required parameter: assertion".to_owned()))?;
    let header = jsonwebtoken::decode_header(assertion).map_err(|e| ("invalid_grant", format!("Invalid JWT: {e}")))?;
    if header.alg != Algorithm::RS256 {
        return Err(("invalid_grant", format!("Invalid JWT: algorithm {:?} is not RS256", header.alg)));
    }
    let bad_signature = || ("invalid_grant", "Invalid JWT Signature.".to_owned());
    if header.kid.as_ref().is_some_and(|kid| kid != &state.private_key_id) {
        return Err(bad_signature());
    }
    // Signature only here; the claims are checked below, one Google message each.
    let mut validation = Validation::new(Algorithm::RS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &state.public_key, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => bad_signature(),
            _ => ("invalid_grant", format!("Invalid JWT: {e}")),
        })?
        .claims;
    if claims.iss.as_deref() != Some(CLIENT_EMAIL) {
        return Err(("invalid_grant", "Invalid grant: account not found".into()));
    }
    if claims.aud.as_deref() != Some(state.token_uri.as_str()) {
        return Err(("invalid_grant", format!("Invalid JWT: Failed audience check. Expected {}", state.token_uri)));
    }
    let now = now_secs();
    let timely = match (claims.iat, claims.exp) {
        (Some(iat), Some(exp)) => exp - iat <= 3600 && iat <= now + CLOCK_SKEW_SECS && exp > now,
        _ => false,
    };
    if !timely {
        return Err((
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. \
             Check your iat and exp values in the JWT claim."
                .into(),
        ));
    }
    if !claims.scope.as_deref().unwrap_or_default().split(' ').any(|scope| scope == SCOPE) {
        return Err(("invalid_scope", "Invalid OAuth scope or ID token audience provided.".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use jsonwebtoken::{DecodingKey, EncodingKey, Header};
    use serde_json::Value;

    use super::{
        super::{FcmStandIn, account_key},
        *,
    };

    fn state() -> State {
        State {
            token_uri: "http://127.0.0.1:1/token".into(),
            private_key_id: "kid-1".into(),
            public_key: DecodingKey::from_rsa_pem(account_key().public_pem.as_bytes()).unwrap(),
            book: Mutex::default(),
        }
    }

    /// A grant as the notifier sends it, with `claims` laid over the good ones.
    fn grant(private_pem: &str, kid: &str, claims: Value) -> Vec<u8> {
        let now = now_secs();
        let mut all = json!({
            "iss": CLIENT_EMAIL, "scope": SCOPE, "aud": "http://127.0.0.1:1/token", "iat": now, "exp": now + 3600,
        });
        all.as_object_mut().unwrap().extend(claims.as_object().unwrap().clone());
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid.into());
        let key = EncodingKey::from_rsa_pem(private_pem.as_bytes()).unwrap();
        let assertion = jsonwebtoken::encode(&header, &all, &key).unwrap();
        serde_urlencoded::to_string([("grant_type", GRANT_TYPE), ("assertion", &assertion)]).unwrap().into_bytes()
    }

    fn check(claims: Value) -> Result<(), (&'static str, String)> {
        check_grant(&state(), &grant(&account_key().private_pem, "kid-1", claims))
    }

    const TIMEFRAME: &str = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable \
                             timeframe. Check your iat and exp values in the JWT claim.";

    #[test]
    fn the_token_endpoint_checks_what_google_checks() {
        let now = now_secs();
        let signature = Err(("invalid_grant", "Invalid JWT Signature.".to_owned()));
        assert_eq!(check(json!({})), Ok(()));
        assert_eq!(check(json!({"scope": format!("openid {SCOPE}")})), Ok(()));
        assert_eq!(check_grant(&state(), &grant(FcmStandIn::foreign_private_key_pem(), "kid-1", json!({}))), signature);
        assert_eq!(check_grant(&state(), &grant(&account_key().private_pem, "kid-2", json!({}))), signature);
        assert_eq!(
            check(json!({"iss": "someone@else.iam.gserviceaccount.com"})).unwrap_err().1,
            "Invalid grant: account not found"
        );
        assert_eq!(
            check(json!({"aud": "https://oauth2.googleapis.com/token"})).unwrap_err().1,
            "Invalid JWT: Failed audience check. Expected http://127.0.0.1:1/token"
        );
        assert_eq!(check(json!({"iat": now, "exp": now + 3601})), Err(("invalid_grant", TIMEFRAME.to_owned())));
        assert_eq!(check(json!({"iat": now + 600, "exp": now + 1200})), Err(("invalid_grant", TIMEFRAME.to_owned())));
        assert_eq!(check(json!({"iat": now - 4000, "exp": now - 400})), Err(("invalid_grant", TIMEFRAME.to_owned())));
        assert_eq!(
            check(json!({"scope": "https://www.googleapis.com/auth/cloud-platform"})),
            Err(("invalid_scope", "Invalid OAuth scope or ID token audience provided.".to_owned()))
        );
        assert_eq!(
            check_grant(&state(), b"grant_type=refresh_token&refresh_token=x"),
            Err(("unsupported_grant_type", "Invalid grant_type: refresh_token".to_owned()))
        );
    }
}
