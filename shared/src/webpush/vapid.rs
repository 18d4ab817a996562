//! The VAPID key (RFC 8292) that identifies us to browsers' push services. Two services use it:
//! auth-api publishes its public half (`GET /push/vapid-public-key`), which a browser passes to
//! `pushManager.subscribe` as `applicationServerKey`, and the notifier signs every push with it.
//! A push service then refuses pushes to that subscription signed by any other key, so both
//! services must read the same `VAPID_PRIVATE_KEY_FILE`.

use std::{fmt, path::Path};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::{
    SecretKey,
    elliptic_curve::{Generate, sec1::ToSec1Point},
    pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding},
};
use serde::Serialize;

/// How long a signed token is good for. RFC 8292 §2 allows at most 24 hours; half of that
/// leaves room for a push service's clock running ahead of ours.
pub const TOKEN_SECONDS: i64 = 12 * 60 * 60;

/// A P-256 private key, the JWT signing key made from it, and its public half as browsers
/// take it (the uncompressed point, base64url without padding).
pub struct VapidKey {
    secret: SecretKey,
    signing: EncodingKey,
    public_b64url: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl VapidKey {
    /// Reads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or SEC1 (`BEGIN EC PRIVATE KEY`,
    /// as `openssl ecparam -genkey -name prime256v1` writes it, with or without the
    /// `EC PARAMETERS` block before it). The key must be on P-256.
    pub fn from_pem(pem: &str) -> Result<Self, String> {
        let secret = if let Some(block) = pem_block(pem, "PRIVATE KEY") {
            SecretKey::from_pkcs8_pem(block).map_err(|e| format!("not a P-256 PKCS#8 private key: {e}"))?
        } else if let Some(block) = pem_block(pem, "EC PRIVATE KEY") {
            SecretKey::from_sec1_pem(block).map_err(|e| format!("not a P-256 SEC1 private key: {e}"))?
        } else if pem.contains("BEGIN ENCRYPTED PRIVATE KEY") {
            return Err("the private key is encrypted; give it unencrypted".into());
        } else {
            return Err("no PEM block \"PRIVATE KEY\" or \"EC PRIVATE KEY\" in it".into());
        };
        Self::from_secret(secret)
    }

    /// Reads the key from a PEM file; the error is one line naming the file and what is wrong
    /// (the caller names the variable).
    pub fn load(path: &Path) -> Result<Self, String> {
        let at_fault = |why: String| format!("{}: {why}", path.display());
        let pem = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {}", path.display(), without_os_code(&e)))?;
        Self::from_pem(&pem).map_err(at_fault)
    }

    /// A new random key: for tests, and for the embedded default, which writes one with
    /// [`to_pkcs8_pem`](Self::to_pkcs8_pem) the first time it starts.
    pub fn generate() -> Result<Self, String> {
        let secret = SecretKey::try_generate().map_err(|e| format!("no randomness from the system: {e}"))?;
        Self::from_secret(secret)
    }

    /// The private key as PKCS#8 PEM, for writing a generated key to its file.
    pub fn to_pkcs8_pem(&self) -> Result<String, String> {
        let pem = self.secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| format!("cannot encode the key: {e}"))?;
        Ok(pem.as_str().to_owned())
    }

    /// The public key as `applicationServerKey` and the `k` parameter take it: the 65-byte
    /// uncompressed point (0x04, x, y), base64url without padding.
    pub fn public_key_b64url(&self) -> String {
        self.public_b64url.clone()
    }

    /// The `Authorization` header value for a push to `endpoint`: `vapid t=<JWT>, k=<key>`,
    /// the JWT (ES256) claiming `aud` = the endpoint's origin, `exp` = `now` + [`TOKEN_SECONDS`]
    /// and `sub` = `subject`. Fails when the endpoint is not an http(s) URL or the subject is
    /// neither a `mailto:` nor an `https:` URI.
    pub fn authorization(&self, endpoint: &str, subject: &str, now: i64) -> Result<String, String> {
        check_subject(subject)?;
        let aud = audience(endpoint)?;
        let claims = Claims { aud: &aud, exp: now + TOKEN_SECONDS, sub: subject };
        let jwt = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.signing)
            .map_err(|e| format!("cannot sign the VAPID token: {e}"))?;
        Ok(format!("vapid t={jwt}, k={}", self.public_b64url))
    }

    fn from_secret(secret: SecretKey) -> Result<Self, String> {
        // jsonwebtoken takes ES256 keys as PKCS#8 DER only, whatever form the file had.
        let der = secret.to_pkcs8_der().map_err(|e| format!("cannot encode the key: {e}"))?;
        let signing = EncodingKey::from_ec_der(der.as_bytes());
        let point = secret.public_key().to_sec1_point(false);
        let public_b64url = URL_SAFE_NO_PAD.encode(point.as_bytes());
        Ok(Self { secret, signing, public_b64url })
    }
}

impl fmt::Debug for VapidKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VapidKey").field("public_key", &self.public_b64url).finish_non_exhaustive()
    }
}

/// The JWT's `aud`: the push resource's origin (`scheme://host[:port]`, the port only when it
/// is not the scheme's default), never its path, which names the subscription.
pub fn audience(endpoint: &str) -> Result<String, String> {
    let url = reqwest::Url::parse(endpoint).map_err(|e| format!("endpoint is not a URL: {e}"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host().is_none() {
        return Err(format!("endpoint is not an http(s) URL with a host: {}", url.scheme()));
    }
    Ok(url.origin().ascii_serialization())
}

/// RFC 8292 §2.1: the contact is a `mailto:` or an `https:` URI.
pub fn check_subject(subject: &str) -> Result<(), String> {
    let valid = match subject.split_once(':') {
        Some(("mailto", rest)) => rest.contains('@'),
        Some(("https", rest)) => rest.starts_with("//") && rest.len() > 2,
        _ => false,
    };
    if valid { Ok(()) } else { Err(format!("must be a mailto: or https: URI, not {subject:?}")) }
}

/// The first `-----BEGIN {label}-----` … `-----END {label}-----` block of `pem`, markers included.
fn pem_block<'a>(pem: &'a str, label: &str) -> Option<&'a str> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)?;
    let stop = pem[start..].find(&end)? + start + end.len();
    Some(&pem[start..stop])
}

/// `No such file or directory`, without the ` (os error 2)` that `io::Error` adds.
fn without_os_code(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{DecodingKey, Validation};

    use super::*;

    /// `openssl ecparam -genkey -name prime256v1` output: parameters, then the SEC1 key.
    const OPENSSL_SEC1: &str = "-----BEGIN EC PARAMETERS-----
BggqhkjOPQMBBw==
-----END EC PARAMETERS-----
-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIE0ZGp+pqjLG7iWOJSjO9i3PMzCObe/heolySQyklh4ZoAoGCCqGSM49
AwEHoUQDQgAEyLoj/wL8cYwhRhmEvtO92BlMqGyenXGqfDzJPs2Z+50TaHvb/hZt
yROxe+Gw+YVA3txgR71RjD8ZtEfYG0buMw==
-----END EC PRIVATE KEY-----
";
    /// Its public half as `openssl ec -pubout` gives it (the DER's last 65 bytes, base64url).
    const OPENSSL_SEC1_PUBLIC: &str =
        "BMi6I_8C_HGMIUYZhL7TvdgZTKhsnp1xqnw8yT7NmfudE2h72_4WbckTsXvhsPmFQN7cYEe9UYw_GbRH2BtG7jM";
    /// `openssl ecparam -genkey -name secp384r1 -noout`: the wrong curve.
    const OPENSSL_P384: &str = "-----BEGIN EC PRIVATE KEY-----
MIGkAgEBBDBYImRSBKTndlKKPSVTOArl14ltQP1T+ANqc0AnKsRYG+1/oFFBYyMa
KhiAYrSFuNmgBwYFK4EEACKhZANiAASXFBbJbqMS6UAjFPGBizKr+FccnZrqn60J
+rl7U2od1jzDM5fU7rWLjdtDQXtRe3IOStUGxvbRBHBsQZU3hYJ4rRRfilB6X9Ww
hPzFRpYeCUr2QQsQ6NTS28mn8cbsiT0=
-----END EC PRIVATE KEY-----
";

    fn claims_of(header: &str, key: &VapidKey) -> serde_json::Value {
        let (t, k) = header.strip_prefix("vapid t=").and_then(|rest| rest.split_once(", k=")).unwrap();
        assert_eq!(k, key.public_key_b64url());
        let point = URL_SAFE_NO_PAD.decode(k).unwrap();
        let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
        let y = URL_SAFE_NO_PAD.encode(&point[33..]);
        let decoding = DecodingKey::from_ec_components(&x, &y).unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_aud = false;
        validation.validate_exp = false;
        jsonwebtoken::decode::<serde_json::Value>(t, &decoding, &validation).unwrap().claims
    }

    #[test]
    fn a_generated_key_round_trips_through_pkcs8_pem() {
        let key = VapidKey::generate().unwrap();
        let pem = key.to_pkcs8_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let again = VapidKey::from_pem(&pem).unwrap();
        assert_eq!(again.public_key_b64url(), key.public_key_b64url());
    }

    #[test]
    fn reads_sec1_as_openssl_ecparam_writes_it() {
        let key = VapidKey::from_pem(OPENSSL_SEC1).unwrap();
        assert_eq!(key.public_key_b64url(), OPENSSL_SEC1_PUBLIC);
        let pkcs8 = VapidKey::from_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
        assert_eq!(pkcs8.public_key_b64url(), key.public_key_b64url());
    }

    #[test]
    fn the_public_key_is_the_uncompressed_point_in_unpadded_base64url() {
        let public = VapidKey::generate().unwrap().public_key_b64url();
        assert_eq!(public.len(), 87);
        assert!(!public.contains(['=', '+', '/']));
        let point = URL_SAFE_NO_PAD.decode(&public).unwrap();
        assert_eq!(point.len(), 65);
        assert_eq!(point[0], 0x04);
    }

    #[test]
    fn the_jwt_verifies_with_the_public_key_and_claims_the_origin() {
        let key = VapidKey::generate().unwrap();
        let endpoint = "https://push.example.net:8443/wpush/v2/gAAAAABk?x=1";
        let header = key.authorization(endpoint, "mailto:ops@example.com", 1_700_000_000).unwrap();
        let claims = claims_of(&header, &key);
        assert_eq!(
            claims,
            serde_json::json!({"aud": "https://push.example.net:8443", "exp": 1_700_000_000 + 12 * 3600,
                               "sub": "mailto:ops@example.com"})
        );
    }

    #[test]
    fn the_default_port_is_not_part_of_the_audience() {
        assert_eq!(audience("https://fcm.googleapis.com:443/fcm/send/abc").unwrap(), "https://fcm.googleapis.com");
        assert_eq!(audience("http://127.0.0.1:4000/push/1").unwrap(), "http://127.0.0.1:4000");
        assert!(audience("ftp://example.com/x").is_err());
        assert!(audience("not a url").is_err());
    }

    #[test]
    fn a_jwt_of_another_key_does_not_verify() {
        let key = VapidKey::generate().unwrap();
        let other = VapidKey::generate().unwrap();
        let header = other.authorization("https://push.example.net/x", "https://example.com", 0).unwrap();
        let t = header.strip_prefix("vapid t=").and_then(|rest| rest.split_once(", k=")).unwrap().0;
        let point = URL_SAFE_NO_PAD.decode(key.public_key_b64url()).unwrap();
        let decoding = DecodingKey::from_ec_components(
            &URL_SAFE_NO_PAD.encode(&point[1..33]),
            &URL_SAFE_NO_PAD.encode(&point[33..]),
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::ES256);
        validation.validate_aud = false;
        validation.validate_exp = false;
        assert!(jsonwebtoken::decode::<serde_json::Value>(t, &decoding, &validation).is_err());
    }

    #[test]
    fn the_subject_must_be_mailto_or_https() {
        let key = VapidKey::generate().unwrap();
        for bad in ["ops@example.com", "http://example.com", "mailto:", "https:"] {
            let err = key.authorization("https://push.example.net/x", bad, 0).unwrap_err();
            assert!(err.contains("mailto: or https:"), "{bad}: {err}");
        }
    }

    #[test]
    fn debug_shows_the_public_key_only() {
        let key = VapidKey::generate().unwrap();
        let debug = format!("{key:?}");
        assert!(debug.contains(&key.public_key_b64url()));
        assert!(!debug.contains("secret") && !debug.contains("signing"), "{debug}");
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(VapidKey::from_pem("hello").unwrap_err().contains("no PEM block"));
        let rsa_like = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
        assert!(VapidKey::from_pem(rsa_like).unwrap_err().contains("PKCS#8"));
        assert!(VapidKey::from_pem(OPENSSL_P384).unwrap_err().contains("not a P-256 SEC1 private key"));
        let err = VapidKey::load(Path::new("/nonexistent/vapid.pem")).unwrap_err();
        assert_eq!(err, "cannot read /nonexistent/vapid.pem: No such file or directory");
    }
}
