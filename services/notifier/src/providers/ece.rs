//! Web Push message encryption (RFC 8291) in the `aes128gcm` content coding (RFC 8188): what
//! the browser's service worker receives is readable by that browser only, not by the push
//! service that carries it. Each message gets a fresh ephemeral key pair and salt, and goes as
//! one record, since a push service takes at most 4096 bytes of body.

use aes_gcm::{Aes128Gcm, KeyInit, aead::Aead};
use hkdf::Hkdf;
use p256::{PublicKey, SecretKey, ecdh::diffie_hellman, elliptic_curve::Generate, elliptic_curve::sec1::ToSec1Point};
use sha2::Sha256;

/// The record size written in the header. The one record we write is never longer; 4096 is
/// what RFC 8291 §4 assumes when it sets the plaintext limit.
pub const RECORD_SIZE: u32 = 4096;

/// The longest plaintext one message carries (RFC 8291 §4): 4096 bytes of body less the
/// 86-byte header, the 16-byte tag and the padding delimiter.
pub const MAX_PLAINTEXT: usize = 3993;

/// The subscription's `auth` secret is 16 bytes (RFC 8291 §3.2).
const AUTH_SECRET_LEN: usize = 16;
/// An uncompressed P-256 point: 0x04, x, y.
const POINT_LEN: usize = 65;
const SALT_LEN: usize = 16;
/// Padding delimiter of the last (here the only) record (RFC 8188 §2).
const LAST_RECORD: u8 = 0x02;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EceError {
    #[error("p256dh is not an uncompressed P-256 point: {0}")]
    BadPublicKey(&'static str),
    #[error("auth secret is {0} bytes, not 16")]
    BadAuthSecret(usize),
    #[error("payload is {0} bytes, more than the {MAX_PLAINTEXT} one push message carries")]
    TooLarge(usize),
    #[error("no randomness from the system: {0}")]
    Random(String),
    #[error("encryption failed: {0}")]
    Crypto(&'static str),
}

/// Encrypts `plaintext` for the browser subscription whose keys are `ua_public` (its `p256dh`,
/// 65 bytes) and `auth_secret` (its `auth`, 16 bytes): the whole request body, header and
/// ciphertext.
pub fn encrypt(ua_public: &[u8], auth_secret: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, EceError> {
    let as_secret = SecretKey::try_generate().map_err(|e| EceError::Random(e.to_string()))?;
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(|e| EceError::Random(e.to_string()))?;
    encrypt_with(ua_public, auth_secret, plaintext, &as_secret, &salt)
}

/// [`encrypt`] with the ephemeral key and the salt given, so the RFC's example can be replayed.
fn encrypt_with(
    ua_public: &[u8],
    auth_secret: &[u8],
    plaintext: &[u8],
    as_secret: &SecretKey,
    salt: &[u8; SALT_LEN],
) -> Result<Vec<u8>, EceError> {
    let ua_key = parse_ua_public(ua_public)?;
    if auth_secret.len() != AUTH_SECRET_LEN {
        return Err(EceError::BadAuthSecret(auth_secret.len()));
    }
    if plaintext.len() > MAX_PLAINTEXT {
        return Err(EceError::TooLarge(plaintext.len()));
    }
    let as_public = as_secret.public_key().to_sec1_point(false);
    let as_public = as_public.as_bytes();

    // RFC 8291 §3.3-3.4: the ECDH secret, mixed with the auth secret, is the input key
    // material; RFC 8188 §2.2 derives the content key and nonce from it and the salt.
    let shared = diffie_hellman(as_secret.to_nonzero_scalar(), ua_key.as_affine());
    let mut key_info = Vec::with_capacity(14 + 2 * POINT_LEN);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let ikm: [u8; 32] = expand(&Hkdf::<Sha256>::new(Some(auth_secret), shared.raw_secret_bytes()), &key_info)?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let cek: [u8; 16] = expand(&prk, b"Content-Encoding: aes128gcm\0")?;
    let nonce: [u8; 12] = expand(&prk, b"Content-Encoding: nonce\0")?;

    let mut record = Vec::with_capacity(plaintext.len() + 1);
    record.extend_from_slice(plaintext);
    record.push(LAST_RECORD);
    let cipher = Aes128Gcm::new_from_slice(&cek).map_err(|_| EceError::Crypto("content key length"))?;
    // The first record's nonce is the derived one as it is (its sequence number is 0).
    let ciphertext = cipher.encrypt(&nonce.into(), record.as_slice()).map_err(|_| EceError::Crypto("AES-GCM"))?;

    let mut body = Vec::with_capacity(SALT_LEN + 4 + 1 + POINT_LEN + ciphertext.len());
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(POINT_LEN as u8);
    body.extend_from_slice(as_public);
    body.extend_from_slice(&ciphertext);
    Ok(body)
}

fn parse_ua_public(ua_public: &[u8]) -> Result<PublicKey, EceError> {
    if ua_public.len() != POINT_LEN || ua_public[0] != 0x04 {
        return Err(EceError::BadPublicKey("not 65 bytes starting with 0x04"));
    }
    PublicKey::from_sec1_bytes(ua_public).map_err(|_| EceError::BadPublicKey("not on the curve"))
}

fn expand<const N: usize>(hkdf: &Hkdf<Sha256>, info: &[u8]) -> Result<[u8; N], EceError> {
    let mut out = [0u8; N];
    hkdf.expand(info, &mut out).map_err(|_| EceError::Crypto("HKDF output length"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

    use super::*;

    // RFC 8291 Appendix A.
    const PLAINTEXT: &str = "When I grow up, I want to be a watermelon";
    const AS_PRIVATE: &str = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
    const UA_PUBLIC: &str = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
    const UA_PRIVATE: &str = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
    const AUTH: &str = "BTBZMqHH6r4Tts7J_aSIgg";
    const SALT: &str = "DGv6ra1nlYgDCS1FRnbzlw";
    const BODY: &str = "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6T\
                        lzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).unwrap()
    }

    /// The browser's side, written from RFC 8291 §3.4 and RFC 8188 §2 for the round trip.
    fn decrypt(body: &[u8], ua_secret: &SecretKey, auth: &[u8]) -> Vec<u8> {
        let (salt, rest) = body.split_at(SALT_LEN);
        assert_eq!(u32::from_be_bytes(rest[..4].try_into().unwrap()), RECORD_SIZE);
        assert_eq!(rest[4] as usize, POINT_LEN);
        let (as_public, ciphertext) = rest[5..].split_at(POINT_LEN);
        let as_key = PublicKey::from_sec1_bytes(as_public).unwrap();
        let shared = diffie_hellman(ua_secret.to_nonzero_scalar(), as_key.as_affine());
        let ua_public = ua_secret.public_key().to_sec1_point(false);
        let key_info = [b"WebPush: info\0".as_slice(), ua_public.as_bytes(), as_public].concat();
        let ikm: [u8; 32] = expand(&Hkdf::<Sha256>::new(Some(auth), shared.raw_secret_bytes()), &key_info).unwrap();
        let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
        let cek: [u8; 16] = expand(&prk, b"Content-Encoding: aes128gcm\0").unwrap();
        let nonce: [u8; 12] = expand(&prk, b"Content-Encoding: nonce\0").unwrap();
        let mut record = Aes128Gcm::new_from_slice(&cek).unwrap().decrypt(&nonce.into(), ciphertext).unwrap();
        assert_eq!(record.pop(), Some(LAST_RECORD));
        record
    }

    fn browser() -> (SecretKey, Vec<u8>, [u8; 16]) {
        let secret = SecretKey::try_generate().unwrap();
        let public = secret.public_key().to_sec1_point(false).as_bytes().to_vec();
        let mut auth = [0u8; 16];
        getrandom::fill(&mut auth).unwrap();
        (secret, public, auth)
    }

    #[test]
    fn reproduces_the_rfc_8291_example_exactly() {
        let as_secret = SecretKey::from_slice(&b64(AS_PRIVATE)).unwrap();
        let salt: [u8; 16] = b64(SALT).try_into().unwrap();
        let body = encrypt_with(&b64(UA_PUBLIC), &b64(AUTH), PLAINTEXT.as_bytes(), &as_secret, &salt).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.encode(&body), BODY);
    }

    #[test]
    fn the_rfc_example_decrypts_with_the_user_agent_key() {
        let ua_secret = SecretKey::from_slice(&b64(UA_PRIVATE)).unwrap();
        assert_eq!(decrypt(&b64(BODY), &ua_secret, &b64(AUTH)), PLAINTEXT.as_bytes());
    }

    #[test]
    fn round_trips_with_a_fresh_key_and_salt_each_time() {
        let (ua_secret, ua_public, auth) = browser();
        let first = encrypt(&ua_public, &auth, b"{\"title\":\"hi\"}").unwrap();
        let second = encrypt(&ua_public, &auth, b"{\"title\":\"hi\"}").unwrap();
        assert_ne!(first[..16], second[..16], "salt");
        assert_ne!(first[21..86], second[21..86], "ephemeral key");
        assert_eq!(decrypt(&first, &ua_secret, &auth), b"{\"title\":\"hi\"}");
        assert_eq!(decrypt(&second, &ua_secret, &auth), b"{\"title\":\"hi\"}");
    }

    #[test]
    fn the_largest_plaintext_makes_a_4096_byte_body_and_one_more_byte_is_refused() {
        let (ua_secret, ua_public, auth) = browser();
        let largest = vec![b'x'; MAX_PLAINTEXT];
        let body = encrypt(&ua_public, &auth, &largest).unwrap();
        assert_eq!(body.len(), 4096);
        assert_eq!(decrypt(&body, &ua_secret, &auth), largest);
        assert_eq!(encrypt(&ua_public, &auth, &[b'x'; MAX_PLAINTEXT + 1]), Err(EceError::TooLarge(3994)));
    }

    #[test]
    fn refuses_keys_that_are_not_a_subscription_s() {
        let (_, ua_public, auth) = browser();
        let compressed = SecretKey::try_generate().unwrap().public_key().to_sec1_point(true).as_bytes().to_vec();
        assert!(matches!(encrypt(&compressed, &auth, b"x"), Err(EceError::BadPublicKey(_))));
        let mut off_curve = ua_public.clone();
        off_curve[64] ^= 1;
        assert_eq!(encrypt(&off_curve, &auth, b"x"), Err(EceError::BadPublicKey("not on the curve")));
        assert_eq!(encrypt(&ua_public, &auth[..12], b"x"), Err(EceError::BadAuthSecret(12)));
    }
}
