//! Which attempts count against which allowance, as Keycloak's brute-force detection and
//! OWASP's guidance have it: every attempt per client address; failed logins per username
//! *and* address, so that an attacker hammering a name from one address locks out that
//! address alone and not the name's owner elsewhere; and failed logins per username over all
//! addresses, much looser, against guessing spread over many addresses. A login that
//! succeeds is not charged.

use shared::{ApiError, http::Refusal, redis_conn::RedisConn, username_key::UsernameKey};

use super::{Limiter, RetryAfter};

/// The 429 of `POST /login`, as the document says it.
pub const LOGIN_RATE_LIMITED: Refusal = Refusal::new(
    429,
    "rate_limited",
    "Too many attempts from this address, or too many failed logins for this username from this address or from \
     all addresses together; `Retry-After` and the message say how many seconds to wait.",
);

/// The 429 of `POST /register`, as the document says it.
pub const REGISTER_RATE_LIMITED: Refusal = Refusal::new(
    429,
    "rate_limited",
    "Too many attempts from this address, or to register this username; `Retry-After` and the message say how many seconds \
     to wait.",
);

/// The allowances per minute, as configured (0: that limit is off).
#[derive(Debug, Clone, Copy)]
pub struct PerMinute {
    /// Login and registration attempts per client address.
    pub ip: u32,
    /// Failed logins per username and client address.
    pub username_and_ip: u32,
    /// Failed logins per username from all addresses; registration attempts per username.
    pub username: u32,
}

/// The limits auth-api enforces.
pub struct RateLimits {
    login_by_ip: Limiter,
    failed_logins_by_username_and_ip: Limiter,
    failed_logins_by_username: Limiter,
    register_by_ip: Limiter,
    register_by_username: Limiter,
}

/// The allowance an attempt ran out of; the 429's message names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Address,
    UsernameFromAddress,
    Username,
    NewUsername,
}

/// An attempt refused: the allowance it ran out of, and when it would be allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub scope: Scope,
    pub retry_after: RetryAfter,
}

/// A login's charge against the failed-login allowances, taken before its password is checked
/// so that concurrent guesses cannot overrun them; [`Self::forgive`] gives it back when the
/// attempt did not fail. Dropped instead (the client went away mid-check), it stays counted.
#[must_use = "a login that did not fail must be forgiven"]
pub struct FailedLoginCharge<'a> {
    limits: &'a RateLimits,
    username_and_ip: String,
    username: String,
}

impl RateLimits {
    /// The counters live in Redis when it is configured, so that the limits hold across
    /// replicas; else in this process.
    pub fn new(per_minute: PerMinute, redis: Option<&RedisConn>) -> Self {
        Self {
            login_by_ip: Limiter::new("login:ip", per_minute.ip, redis),
            failed_logins_by_username_and_ip: Limiter::new("login:failed:user+ip", per_minute.username_and_ip, redis),
            failed_logins_by_username: Limiter::new("login:failed:user", per_minute.username, redis),
            register_by_ip: Limiter::new("register:ip", per_minute.ip, redis),
            register_by_username: Limiter::new("register:user", per_minute.username, redis),
        }
    }

    /// Counts a login attempt from `ip`, before anything else is done for it.
    pub async fn login_from(&self, ip: &str) -> Result<(), Limited> {
        self.login_by_ip.check(ip).await.map_err(Scope::Address.limited())
    }

    /// Charges a login for `username` from `ip` as failed until [`FailedLoginCharge::forgive`];
    /// refused when either failed-login allowance is used up, whether the password is right
    /// or not (else the limit would tell a guess that is right).
    pub async fn charge_failed_login(
        &self,
        username: &UsernameKey,
        ip: &str,
    ) -> Result<FailedLoginCharge<'_>, Limited> {
        // The address is first: it holds no '/', so no two pairs make the same key.
        let username_and_ip = format!("{ip}/{}", username.as_str());
        self.failed_logins_by_username_and_ip
            .check(&username_and_ip)
            .await
            .map_err(Scope::UsernameFromAddress.limited())?;
        if let Err(wait) = self.failed_logins_by_username.check(username.as_str()).await {
            // No guess was made: the owner's allowance at this address is not spent on it.
            self.failed_logins_by_username_and_ip.refund(&username_and_ip).await;
            return Err(Scope::Username.limited()(wait));
        }
        Ok(FailedLoginCharge { limits: self, username_and_ip, username: username.as_str().to_owned() })
    }

    /// Counts a registration attempt from `ip`, before anything else is done for it.
    pub async fn register_from(&self, ip: &str) -> Result<(), Limited> {
        self.register_by_ip.check(ip).await.map_err(Scope::Address.limited())
    }

    /// Counts a registration attempt at `username`, from any address.
    pub async fn register_username(&self, username: &UsernameKey) -> Result<(), Limited> {
        self.register_by_username.check(username.as_str()).await.map_err(Scope::NewUsername.limited())
    }
}

impl FailedLoginCharge<'_> {
    /// The login succeeded, or failed for another reason than its credentials: not charged.
    pub async fn forgive(self) {
        self.limits.failed_logins_by_username_and_ip.refund(&self.username_and_ip).await;
        self.limits.failed_logins_by_username.refund(&self.username).await;
    }
}

impl Scope {
    fn limited(self) -> impl Fn(RetryAfter) -> Limited {
        move |retry_after| Limited { scope: self, retry_after }
    }

    fn what(self) -> &'static str {
        match self {
            Self::Address => "too many attempts from this address",
            Self::UsernameFromAddress => "too many failed logins for this username from this address",
            Self::Username => "too many failed logins for this username",
            Self::NewUsername => "too many attempts to register this username",
        }
    }
}

/// A 429 whose `Retry-After` and message give the same whole seconds, rounded up.
impl From<Limited> for ApiError {
    fn from(limited: Limited) -> Self {
        let seconds = (limited.retry_after.0.as_secs_f64().ceil() as u64).max(1);
        let unit = if seconds == 1 { "second" } else { "seconds" };
        let message = format!("{}; retry in {seconds} {unit}", limited.scope.what());
        ApiError::too_many(LOGIN_RATE_LIMITED.code, message, seconds)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;

    fn limits(ip: u32, username_and_ip: u32, username: u32) -> RateLimits {
        RateLimits::new(PerMinute { ip, username_and_ip, username }, None)
    }

    fn key(name: &str) -> UsernameKey {
        UsernameKey::parse(name).unwrap()
    }

    #[tokio::test]
    async fn a_forgiven_login_is_not_charged() {
        let limits = limits(0, 2, 100);
        for _ in 0..5 {
            limits.charge_failed_login(&key("alice"), "10.0.0.1").await.unwrap().forgive().await;
        }
        let _ = limits.charge_failed_login(&key("alice"), "10.0.0.1").await.unwrap();
        let _ = limits.charge_failed_login(&key("alice"), "10.0.0.1").await.unwrap();
        let refused = limits.charge_failed_login(&key("Alice"), "10.0.0.1").await.err().unwrap();
        assert_eq!(refused.scope, Scope::UsernameFromAddress);
    }

    /// Refused for the username over all addresses, the attempt does not spend the owner's
    /// allowance at theirs.
    #[tokio::test]
    async fn a_login_refused_for_the_username_keeps_the_address_allowance() {
        let limits = limits(0, 1, 1);
        let _ = limits.charge_failed_login(&key("alice"), "10.0.0.1").await.unwrap();
        let refused = limits.charge_failed_login(&key("alice"), "10.0.0.2").await.err().unwrap();
        assert_eq!(refused.scope, Scope::Username);
        limits.failed_logins_by_username.refund("alice").await;
        assert!(limits.charge_failed_login(&key("alice"), "10.0.0.2").await.is_ok());
    }

    #[test]
    fn the_message_says_how_long_to_wait() {
        let limited =
            Limited { scope: Scope::UsernameFromAddress, retry_after: RetryAfter(Duration::from_millis(5001)) };
        let ApiError::TooManyRequests(body, retry_after) = ApiError::from(limited) else { panic!("not a 429") };
        assert_eq!(retry_after, 6);
        assert_eq!(body.error, "too many failed logins for this username from this address; retry in 6 seconds");
        assert_eq!(body.code, "rate_limited");
        let limited = Limited { scope: Scope::Address, retry_after: RetryAfter(Duration::from_micros(3)) };
        assert_eq!(ApiError::from(limited).body().error, "too many attempts from this address; retry in 1 second");
    }
}
