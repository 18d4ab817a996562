//! A certificate authority made for one test, and the certificates it signs: what a test's TLS
//! server shows, and what its clients trust or show back. Every certificate it signs names
//! 127.0.0.1 and localhost, so a client that checks names (as every client of ours does)
//! accepts it on loopback.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};

pub struct TestCa {
    /// The CA's certificate, PEM: what clients trust.
    pub pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate signed by a [`TestCa`] and its private key.
pub struct Issued {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    /// PKCS#8.
    pub key_pem: String,
    pub key_der: Vec<u8>,
}

/// A certificate and its key written out, as a server or a client is pointed at them.
pub struct IssuedFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        // Names of their own: a certificate whose subject is its issuer's reads as self-signed.
        params.distinguished_name.push(DnType::CommonName, name);
        let pem = params.self_signed(&key).unwrap().pem();
        Self { pem, issuer: Issuer::new(params, key) }
    }

    /// A certificate for `name` that serves both ends of a connection: a Redis Cluster's
    /// nodes show theirs to each other as clients, too.
    pub fn issue(&self, name: &str) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Issued {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: key.serialize_pem(),
            key_der: key.serialize_der(),
        }
    }

    /// Writes the CA's certificate to `dir/<name>.pem`; returns its path.
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let path = dir.join(format!("{name}.pem"));
        std::fs::write(&path, &self.pem).unwrap();
        path
    }
}

impl Issued {
    /// Writes `dir/<name>.pem` and `dir/<name>-key.pem` (the key readable by its owner alone,
    /// as PostgreSQL requires).
    pub fn write(&self, dir: &Path, name: &str) -> IssuedFiles {
        use std::os::unix::fs::PermissionsExt;
        let files = IssuedFiles { cert: dir.join(format!("{name}.pem")), key: dir.join(format!("{name}-key.pem")) };
        std::fs::write(&files.cert, &self.cert_pem).unwrap();
        std::fs::write(&files.key, &self.key_pem).unwrap();
        std::fs::set_permissions(&files.key, std::fs::Permissions::from_mode(0o600)).unwrap();
        files
    }
}
