//! Which key signs access tokens. A deployment passes one (every replica must sign with the
//! same key, or tokens from one replica fail at another's JWKS); the embedded default makes
//! one on first start and keeps it in DATA_DIR, so tokens survive a restart.

use std::path::Path;

use secrecy::ExposeSecret;
use shared::{
    config::{CommonConfig, ConfigError},
    data_dir,
    jwks::PublicJwk,
};

use crate::{
    config::AuthSettings,
    tokens::{SigningKey, public_jwks_from_pem},
};

const KEY_FILE: &str = "jwt-signing-key.pem";

/// The signing key, and every key the JWKS publishes: the signing key's public half first,
/// then the retired ones.
pub fn load_key_set(common: &CommonConfig, auth: &AuthSettings) -> Result<(SigningKey, Vec<PublicJwk>), ConfigError> {
    let key = load(common, auth)?;
    let retired = public_jwks_from_pem(&auth.jwt_retired_public_keys)
        .map_err(|e| ConfigError::new("JWT_RETIRED_PUBLIC_KEYS", e.to_string()))?;
    let published = std::iter::once(key.public_jwk().clone()).chain(retired).collect();
    Ok((key, published))
}

fn load(common: &CommonConfig, auth: &AuthSettings) -> Result<SigningKey, ConfigError> {
    if let Some(pem) = &auth.jwt_signing_key {
        return SigningKey::from_pem(pem.expose_secret())
            .map_err(|e| ConfigError::new("JWT_SIGNING_KEY", e.to_string()));
    }
    if let Some(path) = &auth.jwt_signing_key_file {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("JWT_SIGNING_KEY_FILE", format!("cannot read {}: {e}", path.display())))?;
        return SigningKey::from_pem(&pem).map_err(|e| ConfigError::new("JWT_SIGNING_KEY_FILE", e.to_string()));
    }
    if !common.database().is_sqlite() {
        return Err(ConfigError::new(
            "JWT_SIGNING_KEY",
            "required with a shared (Postgres) database, so that every replica signs with the same key",
        ));
    }
    load_or_create(&common.data_dir.join(KEY_FILE))
}

fn load_or_create(path: &Path) -> Result<SigningKey, ConfigError> {
    let fail =
        |what: &str, e: &dyn std::fmt::Display| ConfigError::new("DATA_DIR", format!("{what} {}: {e}", path.display()));
    if path.exists() {
        data_dir::restrict(path).map_err(|e| fail("cannot make private", &e))?;
        let pem = std::fs::read_to_string(path).map_err(|e| fail("cannot read", &e))?;
        return SigningKey::from_pem(&pem).map_err(|e| fail("unusable key in", &e));
    }
    let key = SigningKey::generate().map_err(|e| fail("cannot generate", &e))?;
    if let Some(dir) = path.parent() {
        data_dir::create_private_dir(dir).map_err(|e| fail("cannot create the directory of", &e))?;
    }
    write_private(path, key.to_pem()).map_err(|e| fail("cannot write", &e))?;
    tracing::info!(path = %path.display(), kid = key.kid(), "generated a signing key for the embedded default");
    Ok(key)
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(contents.as_bytes())
}
