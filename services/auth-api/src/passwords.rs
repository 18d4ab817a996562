//! Password hashing: argon2id with at least OWASP's parameters, stored as PHC strings.
//! Hashes of the original service (bcrypt `$2b$`) and argon2 hashes of a lower cost still
//! verify, and are reported for an upgrade at the next successful login.
//!
//! Hashing is CPU- and memory-heavy, so it runs on the blocking pool, at most one hash per
//! core at a time: under a login storm requests queue instead of exhausting memory.

use std::sync::Arc;

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash},
};
use tokio::sync::Semaphore;
use tracing::Span;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters rejected: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    Match { needs_upgrade: bool },
}

pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Verified against when the user does not exist, so that an unknown username costs the
    /// same time as a wrong password.
    decoy: String,
}

impl Hasher {
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self, HashError> {
        let params =
            Params::new(memory_kib, iterations, parallelism, None).map_err(|e| HashError::Params(e.to_string()))?;
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let decoy = hash_blocking(&params, "decoy password, never a real one")?;
        Ok(Self { params, permits: Arc::new(Semaphore::new(cores)), decoy })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        self.blocking(move || hash_blocking(&params, password.expose())).await?
    }

    /// Checks `password` against the stored hash, or against the decoy when there is no user.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Verdict {
        let (stored, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy.clone(), false),
        };
        let params = self.params.clone();
        let password = password.clone();
        let verdict = self
            .blocking(move || verify_blocking(&params, password.expose(), &stored))
            .await
            .unwrap_or(Verdict::Mismatch);
        if real { verdict } else { Verdict::Mismatch }
    }

    async fn blocking<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, HashError> {
        let _permit = self.permits.acquire().await.map_err(|e| HashError::Hash(e.to_string()))?;
        let span = Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(work)).await.map_err(|e| HashError::Hash(e.to_string()))
    }
}

fn hash_blocking(params: &Params, password: &str) -> Result<String, HashError> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password(password.as_bytes())
        .map(|hash| hash.to_string())
        .map_err(|e| HashError::Hash(e.to_string()))
}

fn verify_blocking(params: &Params, password: &str, stored: &str) -> Verdict {
    if stored.starts_with("$2") {
        return match bcrypt::verify(password, stored) {
            Ok(true) => Verdict::Match { needs_upgrade: true },
            _ => Verdict::Mismatch,
        };
    }
    let Ok(parsed) = PasswordHash::new(stored) else {
        return Verdict::Mismatch;
    };
    // The stored hash's own algorithm and parameters drive verification.
    if Argon2::default().verify_password(password.as_bytes(), &parsed).is_err() {
        return Verdict::Mismatch;
    }
    Verdict::Match { needs_upgrade: is_weaker(&parsed, params) }
}

fn is_weaker(hash: &PasswordHash, wanted: &Params) -> bool {
    let Ok(used) = Params::try_from(hash) else {
        return true;
    };
    hash.algorithm.as_str() != "argon2id"
        || used.m_cost() < wanted.m_cost()
        || used.t_cost() < wanted.t_cost()
        || used.p_cost() < wanted.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Hasher {
        Hasher::new(19_456, 2, 1).unwrap()
    }

    fn password(s: &str) -> Password {
        Password::parse(s).unwrap()
    }

    #[tokio::test]
    async fn an_argon2id_hash_of_the_configured_cost_verifies_without_upgrade() {
        let h = hasher();
        let hash = h.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(h.verify(&password("correct horse"), Some(&hash)).await, Verdict::Match { needs_upgrade: false });
        assert_eq!(h.verify(&password("wrong horse"), Some(&hash)).await, Verdict::Mismatch);
    }

    #[tokio::test]
    async fn weaker_argon2_and_bcrypt_hashes_verify_and_ask_for_an_upgrade() {
        let h = hasher();
        let weak = hash_blocking(&Params::new(4096, 1, 1, None).unwrap(), "correct horse").unwrap();
        assert_eq!(h.verify(&password("correct horse"), Some(&weak)).await, Verdict::Match { needs_upgrade: true });
        let legacy = bcrypt::hash("correct horse", 4).unwrap();
        assert!(legacy.starts_with("$2b$"));
        assert_eq!(h.verify(&password("correct horse"), Some(&legacy)).await, Verdict::Match { needs_upgrade: true });
        assert_eq!(h.verify(&password("wrong horse!"), Some(&legacy)).await, Verdict::Mismatch);
    }

    #[tokio::test]
    async fn no_user_never_matches_even_the_decoy_password() {
        let h = hasher();
        assert_eq!(h.verify(&password("decoy password, never a real one"), None).await, Verdict::Mismatch);
        assert_eq!(h.verify(&password("anything at all"), Some("garbage")).await, Verdict::Mismatch);
    }
}
