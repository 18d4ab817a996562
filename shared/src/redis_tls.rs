//! TLS to Redis (`rediss://`, `rediss+cluster://`): whom to trust, and what to show a server
//! that asks who we are. The CA file (`REDIS_CA_FILE`) replaces the system's roots, for a
//! Redis whose certificate a private CA signed; a managed Redis with a public CA needs none. A
//! client certificate is for servers that require one (`tls-auth-clients yes`).
//!
//! The files are read and checked when the settings are parsed, so a missing, unreadable or
//! malformed one stops the process at once with one line naming its variable, instead of every
//! connection failing later with the TLS library's words.

use std::{fmt, path::PathBuf, str::FromStr, sync::Arc};

use redis::{ClientTlsConfig, ConnectionAddr, IntoConnectionInfo, RedisResult, TlsCertificates};
use rustls::{
    ClientConfig, RootCertStore,
    pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject},
};
use secrecy::{ExposeSecret, SecretString};

/// A PEM file of one or more certificates (a CA, or a client certificate and its chain).
#[derive(Clone)]
pub struct PemCertificates {
    path: PathBuf,
    pem: Vec<u8>,
}

impl FromStr for PemCertificates {
    type Err = String;

    fn from_str(path: &str) -> Result<Self, Self::Err> {
        let pem = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
        let certificates = CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM certificate file: {e}"))?;
        if certificates.is_empty() {
            return Err("holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
        }
        // What rustls will make of them: a certificate it cannot read is refused now.
        for certificate in certificates {
            RootCertStore::empty().add(certificate).map_err(|e| format!("an unreadable certificate: {e}"))?;
        }
        Ok(Self { path: PathBuf::from(path), pem })
    }
}

impl fmt::Debug for PemCertificates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PemCertificates({})", self.path.display())
    }
}

/// A PEM file of one private key (PKCS#8, PKCS#1 or SEC1); never printed.
#[derive(Clone)]
pub struct PemKey {
    path: PathBuf,
    pem: SecretString,
}

impl FromStr for PemKey {
    type Err = String;

    fn from_str(path: &str) -> Result<Self, Self::Err> {
        let pem = std::fs::read_to_string(path).map_err(|e| format!("cannot read the file: {e}"))?;
        PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|e| format!("not a PEM private key: {e}"))?;
        Ok(Self { path: PathBuf::from(path), pem: SecretString::from(pem) })
    }
}

impl fmt::Debug for PemKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PemKey({})", self.path.display())
    }
}

/// How connections to a `rediss://` Redis are secured; nothing for a `redis://` one.
#[derive(Clone, Default)]
pub struct RedisTls(Option<TlsCertificates>);

impl RedisTls {
    /// Trusting `ca` (the system's roots without it), showing `client` when asked. A client
    /// key that is not the certificate's is refused here, not at every connection.
    pub fn new(ca: Option<&PemCertificates>, client: Option<(&PemCertificates, &PemKey)>) -> Result<Self, String> {
        if let Some((certificate, key)) = client {
            check_pair(certificate, key)?;
        }
        if ca.is_none() && client.is_none() {
            return Ok(Self(None));
        }
        Ok(Self(Some(TlsCertificates {
            client_tls: client.map(|(certificate, key)| ClientTlsConfig {
                client_cert: certificate.pem.clone(),
                client_key: key.pem.expose_secret().as_bytes().to_vec(),
            }),
            root_cert: ca.map(|ca| ca.pem.clone()),
        })))
    }

    /// What a cluster client is given, when there is anything to give.
    pub fn certificates(&self) -> Option<TlsCertificates> {
        self.0.clone()
    }

    /// The setting to blame, and why, when connecting failed in the TLS handshake for want of
    /// trust on either side: one line for the start-up error. `error` is the connection
    /// error's text: redis-rs keeps rustls's error behind a type-erased `Arc`, out of reach of
    /// a downcast, so its words (`invalid peer certificate: …`, `received fatal alert: …`,
    /// rustls's `Display`) are what is read.
    pub fn blame(&self, error: &str) -> Option<String> {
        let (own_ca, own_certificate) = match &self.0 {
            None => (false, false),
            Some(TlsCertificates { root_cert, client_tls }) => (root_cert.is_some(), client_tls.is_some()),
        };
        if error.contains("invalid peer certificate: UnknownIssuer") {
            return Some(if own_ca {
                format!("REDIS_CA_FILE: the Redis server's certificate is not signed by this CA ({error})")
            } else {
                format!(
                    "REDIS_URL: the Redis server's certificate is not signed by a CA the system trusts; \
                     give its CA in REDIS_CA_FILE ({error})"
                )
            });
        }
        if error.contains("invalid peer certificate:") {
            return Some(format!("REDIS_URL: the Redis server's certificate is not accepted ({error})"));
        }
        if error.contains("received fatal alert:") {
            return Some(if own_certificate {
                format!("REDIS_CLIENT_CERT_FILE: the Redis server refused this certificate ({error})")
            } else {
                format!("REDIS_CLIENT_CERT_FILE: the Redis server refused the connection without one ({error})")
            });
        }
        None
    }

    /// A client of the one server at `node`: with these certificates when it is a `rediss://`
    /// address.
    pub fn client(&self, node: impl IntoConnectionInfo) -> RedisResult<redis::Client> {
        crate::tls_provider::install();
        let node = node.into_connection_info()?;
        match (&self.0, node.addr()) {
            (Some(certificates), ConnectionAddr::TcpTls { .. }) => {
                redis::Client::build_with_tls(node, certificates.clone())
            }
            _ => redis::Client::open(node),
        }
    }
}

impl fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match &self.0 {
            None => "RedisTls(system roots)",
            Some(TlsCertificates { client_tls: None, .. }) => "RedisTls(own CA)",
            Some(TlsCertificates { client_tls: Some(_), .. }) => "RedisTls(client certificate)",
        })
    }
}

/// Whether rustls takes `key` as the private key of `certificate`'s first certificate.
fn check_pair(certificate: &PemCertificates, key: &PemKey) -> Result<(), String> {
    crate::tls_provider::install();
    let chain =
        CertificateDer::pem_slice_iter(&certificate.pem).collect::<Result<Vec<_>, _>>().map_err(|e| e.to_string())?;
    let key = PrivateKeyDer::from_pem_slice(key.pem.expose_secret().as_bytes()).map_err(|e| e.to_string())?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(RootCertStore::empty())
        .with_client_auth_cert(chain, key)
        .map(drop)
        .map_err(|e| format!("not usable with REDIS_CLIENT_CERT_FILE: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(root_cert: bool, client_tls: bool) -> RedisTls {
        let client = ClientTlsConfig { client_cert: Vec::new(), client_key: Vec::new() };
        RedisTls(Some(TlsCertificates {
            client_tls: client_tls.then_some(client),
            root_cert: root_cert.then(Vec::new),
        }))
    }

    /// rustls's words, as redis-rs passes them on, name the setting to mend.
    #[test]
    fn a_refused_handshake_names_the_setting_to_mend() {
        let unknown = "invalid peer certificate: UnknownIssuer";
        assert!(with(true, false).blame(unknown).unwrap().starts_with("REDIS_CA_FILE: "));
        assert!(RedisTls::default().blame(unknown).unwrap().starts_with("REDIS_URL: "));
        let name = "invalid peer certificate: certificate not valid for name \"redis\"";
        assert!(with(true, false).blame(name).unwrap().starts_with("REDIS_URL: "));
        let alert = "received fatal alert: CertificateRequired";
        assert!(with(true, false).blame(alert).unwrap().contains("refused the connection without one"));
        assert!(with(true, true).blame(alert).unwrap().contains("refused this certificate"));
        assert_eq!(RedisTls::default().blame("Connection refused (os error 111)"), None);
    }
}
