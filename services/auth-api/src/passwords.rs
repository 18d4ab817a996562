//! Password hashing: argon2id with at least OWASP's parameters, stored as PHC strings.
//! Hashes of the original service (bcrypt `$2b$`) and argon2 hashes of a lower cost still
//! verify, and are reported for an upgrade at the next successful login.
//!
//! Hashing is CPU- and memory-heavy, so it runs on the blocking pool, at most one hash per
//! core at a time: under a login storm requests queue instead of exhausting memory. The queue
//! is bounded: past it a request is refused at once (`HashError::Busy`, a 503 with
//! `Retry-After`) rather than waiting longer than a client would, since every login it lets in
//! then makes all later ones wait one hash longer. Each of
//! those runs reuses a work area of the hasher's (one per core, kept): a fresh 19 MiB for every
//! hash cost zeroing it all (`memset` was 6 % of the machine in the login benchmark's profile),
//! or a page fault per 4 KiB when the allocator served it by `mmap`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicUsize, Ordering},
};

use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, Version,
    password_hash::phc::{Output, ParamsString, PasswordHash, Salt},
};
use shared::{ApiError, http::Refusal};
use tokio::sync::{Semaphore, SemaphorePermit};
use tracing::Span;

use crate::domain::Password;

#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("argon2 parameters rejected: {0}")]
    Params(String),
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("every core is hashing and {0} more hashes wait for one")]
    Busy(usize),
}

/// The hashing queue is full (`HashError::Busy`), with `Retry-After`.
pub const OVERLOADED: Refusal = Refusal::new(
    503,
    "overloaded",
    "Too many logins and registrations wait for a password hash; retry after `Retry-After` seconds.",
);

impl From<HashError> for ApiError {
    /// A full queue is load to shed: retry in a second. Anything else is a fault of ours.
    fn from(err: HashError) -> Self {
        match err {
            HashError::Busy(_) => ApiError::overloaded("too many logins and registrations at once; retry shortly", 1),
            other => ApiError::internal(&other),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Mismatch,
    Match { needs_upgrade: bool },
}

pub struct Hasher {
    params: Params,
    permits: Arc<Semaphore>,
    /// Hashes waiting for a permit, and how many may.
    waiting: AtomicUsize,
    queue: usize,
    /// Work areas of finished hashes, for the next ones (at most one per permit).
    memory: Arc<Mutex<Vec<Vec<Block>>>>,
    /// Verified against when the user does not exist, so that an unknown username costs the
    /// same time as a wrong password.
    decoy: String,
}

impl Hasher {
    /// One hash per core at a time, and at most `queue` more waiting for a core.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32, queue: usize) -> Result<Self, HashError> {
        let params =
            Params::new(memory_kib, iterations, parallelism, None).map_err(|e| HashError::Params(e.to_string()))?;
        let cores = std::thread::available_parallelism().map(usize::from).unwrap_or(1);
        let decoy = hash_blocking(&params, "decoy password, never a real one", &mut Vec::new())?;
        Ok(Self {
            params,
            permits: Arc::new(Semaphore::new(cores)),
            waiting: AtomicUsize::new(0),
            queue,
            memory: Arc::default(),
            decoy,
        })
    }

    pub async fn hash(&self, password: &Password) -> Result<String, HashError> {
        let params = self.params.clone();
        let password = password.clone();
        self.blocking(move |memory| hash_blocking(&params, password.expose(), memory)).await?
    }

    /// Checks `password` against the stored hash, or against the decoy when there is no user.
    pub async fn verify(&self, password: &Password, stored: Option<&str>) -> Result<Verdict, HashError> {
        let (stored, real) = match stored {
            Some(hash) => (hash.to_owned(), true),
            None => (self.decoy.clone(), false),
        };
        let params = self.params.clone();
        let password = password.clone();
        let verdict = self.blocking(move |memory| verify_blocking(&params, password.expose(), &stored, memory)).await?;
        Ok(if real { verdict } else { Verdict::Mismatch })
    }

    async fn blocking<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Vec<Block>) -> T + Send + 'static,
    ) -> Result<T, HashError> {
        let _permit = self.permit().await?;
        let span = Span::current();
        let pool = self.memory.clone();
        tokio::task::spawn_blocking(move || {
            let mut memory = pool.lock().ok().and_then(|mut free| free.pop()).unwrap_or_default();
            let result = span.in_scope(|| work(&mut memory));
            if let Ok(mut free) = pool.lock() {
                free.push(memory);
            }
            result
        })
        .await
        .map_err(|e| HashError::Hash(e.to_string()))
    }

    /// A core's permit: at once if one is free, else after those ahead in the queue, or
    /// `Busy` when the queue is full. The semaphore is fair, so no newcomer passes the queue.
    async fn permit(&self) -> Result<SemaphorePermit<'_>, HashError> {
        if let Ok(permit) = self.permits.try_acquire() {
            return Ok(permit);
        }
        let ahead = self.waiting.fetch_add(1, Ordering::AcqRel);
        // Leaves the queue however the wait ends, a client that hung up included.
        let _in_line = InLine(&self.waiting);
        if ahead >= self.queue {
            return Err(HashError::Busy(ahead));
        }
        self.permits.acquire().await.map_err(|e| HashError::Hash(e.to_string()))
    }
}

struct InLine<'a>(&'a AtomicUsize);

impl Drop for InLine<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// `memory` grown to what `params` needs; its old contents do not matter (argon2 writes every
/// block before reading it).
fn work_area<'a>(memory: &'a mut Vec<Block>, params: &Params) -> &'a mut [Block] {
    if memory.len() < params.block_count() {
        memory.resize(params.block_count(), Block::default());
    }
    &mut memory[..params.block_count()]
}

fn hash_blocking(params: &Params, password: &str, memory: &mut Vec<Block>) -> Result<String, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError::Hash(e.to_string());
    let salt = Salt::generate();
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, work_area(memory, params))
        .map_err(|e| fail(&e))?;
    let hash = PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(|e| fail(&e))?,
        salt: Some(salt),
        hash: Some(Output::new(&out).map_err(|e| fail(&e))?),
    };
    Ok(hash.to_string())
}

fn verify_blocking(params: &Params, password: &str, stored: &str, memory: &mut Vec<Block>) -> Verdict {
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
    if !argon2_matches(password, &parsed, memory) {
        return Verdict::Mismatch;
    }
    Verdict::Match { needs_upgrade: is_weaker(&parsed, params) }
}

/// Whether `password` hashes to `stored` with the stored algorithm, version, parameters and
/// salt; the comparison is `Output`'s, in constant time.
fn argon2_matches(password: &str, stored: &PasswordHash, memory: &mut Vec<Block>) -> bool {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(stored.algorithm.as_str()) else {
        return false;
    };
    let Ok(version) = stored.version.map_or(Ok(Version::default()), Version::try_from) else {
        return false;
    };
    let Ok(params) = Params::try_from(stored) else {
        return false;
    };
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(algorithm, version, params.clone());
    if argon2.hash_password_into_with_memory(password.as_bytes(), salt, &mut out, work_area(memory, &params)).is_err() {
        return false;
    }
    Output::new(&out).is_ok_and(|computed| computed == *expected)
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
        Hasher::new(19_456, 2, 1, 64).unwrap()
    }

    fn password(s: &str) -> Password {
        Password::parse(s).unwrap()
    }

    #[tokio::test]
    async fn an_argon2id_hash_of_the_configured_cost_verifies_without_upgrade() {
        let h = hasher();
        let hash = h.hash(&password("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert_eq!(
            h.verify(&password("correct horse"), Some(&hash)).await.unwrap(),
            Verdict::Match { needs_upgrade: false }
        );
        assert_eq!(h.verify(&password("wrong horse"), Some(&hash)).await.unwrap(), Verdict::Mismatch);
    }

    /// Hashes stored before the work areas were reused (the library's own `hash_password`)
    /// verify, and ours verify with the library's verifier: the PHC strings are the same kind.
    #[tokio::test]
    async fn hashes_agree_with_the_argon2_library_both_ways() {
        use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
        let h = hasher();
        let library = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19_456, 2, 1, None).unwrap());
        let theirs = library.hash_password(b"correct horse").unwrap().to_string();
        assert_eq!(
            h.verify(&password("correct horse"), Some(&theirs)).await.unwrap(),
            Verdict::Match { needs_upgrade: false }
        );
        assert_eq!(h.verify(&password("correct horsE"), Some(&theirs)).await.unwrap(), Verdict::Mismatch);
        let ours = h.hash(&password("correct horse")).await.unwrap();
        assert!(library.verify_password(b"correct horse", &PasswordHash::new(&ours).unwrap()).is_ok());
        assert!(library.verify_password(b"wrong horse", &PasswordHash::new(&ours).unwrap()).is_err());
    }

    /// One work area serves hashes of any cost, smaller or larger than the last.
    #[tokio::test]
    async fn a_reused_work_area_serves_stronger_and_weaker_hashes() {
        let h = Hasher { permits: Arc::new(Semaphore::new(1)), ..hasher() };
        let stronger =
            hash_blocking(&Params::new(32_768, 2, 1, None).unwrap(), "correct horse", &mut Vec::new()).unwrap();
        let weaker = hash_blocking(&Params::new(4096, 1, 1, None).unwrap(), "correct horse", &mut Vec::new()).unwrap();
        for stored in [&stronger, &weaker, &stronger] {
            assert!(matches!(h.verify(&password("correct horse"), Some(stored)).await.unwrap(), Verdict::Match { .. }));
            assert_eq!(h.verify(&password("wrong horse"), Some(stored)).await.unwrap(), Verdict::Mismatch);
        }
        assert_eq!(h.memory.lock().unwrap().len(), 1, "one permit, one work area");
    }

    /// With every core busy and the queue full, a hash is refused at once; a place in the
    /// queue is given back when its wait ends, also when the waiting request is dropped.
    #[tokio::test]
    async fn past_a_full_queue_hashes_are_refused_until_a_place_frees() {
        use futures_util::FutureExt as _;
        let h = Hasher { permits: Arc::new(Semaphore::new(1)), queue: 1, ..hasher() };
        let (first, second) = (password("correct horse"), password("second horse"));
        let mut hashing = Box::pin(h.hash(&first));
        assert!(hashing.as_mut().now_or_never().is_none(), "holds the one core");
        let mut waiting = Box::pin(h.hash(&second));
        assert!(waiting.as_mut().now_or_never().is_none(), "waits in the one place of the queue");
        assert!(matches!(h.hash(&first).await, Err(HashError::Busy(1))));
        assert!(matches!(h.verify(&first, None).await, Err(HashError::Busy(1))), "unknown users too");
        drop(waiting);
        let mut again = Box::pin(h.verify(&first, None));
        assert!(again.as_mut().now_or_never().is_none(), "the dropped request's place is free");
        assert!(hashing.await.unwrap().starts_with("$argon2id$"));
        assert_eq!(again.await.unwrap(), Verdict::Mismatch);
        assert_eq!(h.waiting.load(Ordering::Acquire), 0);
        let hash = h.hash(&first).await.unwrap();
        assert_eq!(h.verify(&first, Some(&hash)).await.unwrap(), Verdict::Match { needs_upgrade: false });
    }

    #[tokio::test]
    async fn weaker_argon2_and_bcrypt_hashes_verify_and_ask_for_an_upgrade() {
        let h = hasher();
        let weak = hash_blocking(&Params::new(4096, 1, 1, None).unwrap(), "correct horse", &mut Vec::new()).unwrap();
        assert_eq!(
            h.verify(&password("correct horse"), Some(&weak)).await.unwrap(),
            Verdict::Match { needs_upgrade: true }
        );
        let legacy = bcrypt::hash("correct horse", 4).unwrap();
        assert!(legacy.starts_with("$2b$"));
        assert_eq!(
            h.verify(&password("correct horse"), Some(&legacy)).await.unwrap(),
            Verdict::Match { needs_upgrade: true }
        );
        assert_eq!(h.verify(&password("wrong horse!"), Some(&legacy)).await.unwrap(), Verdict::Mismatch);
    }

    #[tokio::test]
    async fn no_user_never_matches_even_the_decoy_password() {
        let h = hasher();
        assert_eq!(h.verify(&password("decoy password, never a real one"), None).await.unwrap(), Verdict::Mismatch);
        assert_eq!(h.verify(&password("anything at all"), Some("garbage")).await.unwrap(), Verdict::Mismatch);
    }
}
