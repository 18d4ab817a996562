//! The APNs provider token: an ES256 JWT signed with the team's `.p8` key that every request
//! carries as `authorization: bearer …`. Apple refuses a token whose `iat` is over an hour old
//! (403 `ExpiredProviderToken`) and a new token sooner than 20 minutes after the last one
//! (429 `TooManyProviderTokenUpdates`), so the process keeps one token for every send and
//! renews it after 40 minutes: one caller signs while the others wait for its token.

use std::{
    fmt,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{SystemTime, UNIX_EPOCH},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::header::HeaderValue;
use serde::Serialize;
use tokio::sync::Mutex;

/// A token's age at which the next send renews it: past Apple's 20-minute floor, with 20
/// minutes to spare before its one-hour ceiling for clock skew and slow requests.
const RENEW_AFTER_SECS: i64 = 40 * 60;

/// The wall clock tokens are dated by: the system's, shifted by an offset that only tests
/// set, so they can cross the 20- and 40-minute marks without waiting for them.
#[derive(Debug, Clone, Default)]
pub struct Clock {
    offset_secs: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    /// From now on this clock and every clone of it read the system time plus `secs`
    /// (negative: in the past).
    pub fn set_offset(&self, secs: i64) {
        self.offset_secs.store(secs, Ordering::Relaxed);
    }

    /// Seconds since the Unix epoch.
    pub(crate) fn now(&self) -> i64 {
        let system = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs());
        i64::try_from(system).unwrap_or(i64::MAX).saturating_add(self.offset_secs.load(Ordering::Relaxed))
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TokenError {
    #[error(transparent)]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error("a signed token is not a header value")]
    Header(#[from] reqwest::header::InvalidHeaderValue),
}

/// A provider token ready to send, and which signing made it.
#[derive(Clone)]
pub(crate) struct ProviderToken {
    /// `bearer <jwt>`, marked sensitive so that no log or Debug shows it.
    pub(crate) authorization: HeaderValue,
    generation: u64,
}

impl fmt::Debug for ProviderToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProviderToken").field("generation", &self.generation).finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    iat: i64,
}

struct Issued {
    token: ProviderToken,
    issued_at: i64,
}

/// The process's provider token, shared by every send.
pub(crate) struct ProviderTokens {
    signer: Signer,
    current: Mutex<Issued>,
}

impl ProviderTokens {
    /// Signs the first token at once, so that a key which cannot sign ES256 (another curve,
    /// not PKCS#8) fails at start-up rather than at the first push.
    pub(crate) fn new(key_pem: &[u8], key_id: &str, team_id: &str, clock: Clock) -> Result<Self, TokenError> {
        let mut header = Header::new(Algorithm::ES256);
        // Apple's token header is {alg, kid} and nothing else.
        header.typ = None;
        header.kid = Some(key_id.to_owned());
        let signer = Signer { key: EncodingKey::from_ec_pem(key_pem)?, header, team_id: team_id.to_owned(), clock };
        let first = signer.sign(0)?;
        Ok(Self { signer, current: Mutex::new(first) })
    }

    /// Now by the clock tokens are dated by, in Unix seconds.
    pub(crate) fn now(&self) -> i64 {
        self.signer.clock.now()
    }

    /// The token to send now: the cached one, or a new one once it is 40 minutes old.
    pub(crate) async fn current(&self) -> Result<ProviderToken, TokenError> {
        let mut current = self.current.lock().await;
        if self.signer.clock.now().saturating_sub(current.issued_at) >= RENEW_AFTER_SECS {
            *current = self.signer.sign(current.token.generation + 1)?;
        }
        Ok(current.token.clone())
    }

    /// A new token after APNs refused `refused`, unless a concurrent caller already replaced
    /// it: then the replacement, so that one refusal seen by many sends renews once.
    pub(crate) async fn renew_after_refusal(&self, refused: &ProviderToken) -> Result<ProviderToken, TokenError> {
        let mut current = self.current.lock().await;
        if current.token.generation == refused.generation {
            *current = self.signer.sign(refused.generation + 1)?;
        }
        Ok(current.token.clone())
    }
}

struct Signer {
    key: EncodingKey,
    header: Header,
    team_id: String,
    clock: Clock,
}

impl Signer {
    fn sign(&self, generation: u64) -> Result<Issued, TokenError> {
        let issued_at = self.clock.now();
        let jwt = jsonwebtoken::encode(&self.header, &Claims { iss: &self.team_id, iat: issued_at }, &self.key)?;
        let mut authorization = HeaderValue::try_from(format!("bearer {jwt}"))?;
        authorization.set_sensitive(true);
        Ok(Issued { token: ProviderToken { authorization, generation }, issued_at })
    }
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, sync::Arc};

    use super::{Clock, ProviderToken, ProviderTokens};

    const KEY_ID: &str = "KEY0000001";
    const TEAM_ID: &str = "TEAM000001";

    fn tokens(clock: &Clock) -> ProviderTokens {
        let key = testkit::push::apns::new_signing_key_pem();
        ProviderTokens::new(key.as_bytes(), KEY_ID, TEAM_ID, clock.clone()).unwrap()
    }

    /// The claims Apple reads, without checking the signature (the stand-in's tests do that).
    fn claims(token: &ProviderToken) -> serde_json::Value {
        let bearer = token.authorization.to_str().unwrap();
        let jwt = bearer.strip_prefix("bearer ").unwrap();
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        assert_eq!(
            (header.alg, header.kid.as_deref(), header.typ),
            (jsonwebtoken::Algorithm::ES256, Some(KEY_ID), None)
        );
        jsonwebtoken::dangerous::insecure_decode_claims::<serde_json::Value>(jwt).unwrap()
    }

    #[tokio::test]
    async fn a_token_is_reused_for_40_minutes_then_renewed() {
        let clock = Clock::system();
        let tokens = tokens(&clock);
        let first = tokens.current().await.unwrap();
        let issued_at = claims(&first)["iat"].as_i64().unwrap();
        assert_eq!(claims(&first)["iss"], TEAM_ID);

        clock.set_offset(40 * 60 - 5);
        let later = tokens.current().await.unwrap();
        assert_eq!(later.authorization, first.authorization);

        clock.set_offset(40 * 60);
        let renewed = tokens.current().await.unwrap();
        assert_ne!(renewed.authorization, first.authorization);
        assert!(claims(&renewed)["iat"].as_i64().unwrap() >= issued_at + 40 * 60);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_renewal() {
        let clock = Clock::system();
        let tokens = Arc::new(tokens(&clock));
        clock.set_offset(41 * 60);
        let callers: Vec<_> = (0..20)
            .map(|_| {
                let tokens = tokens.clone();
                tokio::spawn(async move { tokens.current().await.unwrap().generation })
            })
            .collect();
        let mut generations = BTreeSet::new();
        for caller in callers {
            generations.insert(caller.await.unwrap());
        }
        assert_eq!(generations, BTreeSet::from([1]));
    }

    #[tokio::test]
    async fn one_refused_token_is_renewed_once_however_many_sends_saw_it_refused() {
        let clock = Clock::system();
        let tokens = tokens(&clock);
        let refused = tokens.current().await.unwrap();
        let first = tokens.renew_after_refusal(&refused).await.unwrap();
        let second = tokens.renew_after_refusal(&refused).await.unwrap();
        assert_eq!((first.generation, second.generation), (1, 1));
        assert_eq!(tokens.current().await.unwrap().generation, 1);
    }

    #[test]
    fn a_key_on_another_curve_is_refused_at_once() {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap().serialize_pem();
        assert!(ProviderTokens::new(key.as_bytes(), KEY_ID, TEAM_ID, Clock::system()).is_err());
    }

    #[test]
    fn the_token_never_shows_in_debug() {
        let tokens = tokens(&Clock::system());
        let token = tokens.current.try_lock().unwrap().token.clone();
        assert_eq!(format!("{token:?}"), "ProviderToken { generation: 0, .. }");
    }
}
