//! Outgoing HTTP (the JWKS fetch, OTLP export, and the tests' clients): reqwest over rustls
//! with ring as its crypto, the one TLS stack the build compiles besides librdkafka's OpenSSL.
//! reqwest is built without a crypto provider of its own, so every client comes from here,
//! where ring is installed as the process's provider first (`tls_provider`).

/// A client builder with the suite's crypto provider in place.
#[allow(clippy::disallowed_methods)] // the one place allowed to call it (clippy.toml)
pub fn builder() -> reqwest::ClientBuilder {
    crate::tls_provider::install();
    reqwest::Client::builder()
}

#[cfg(test)]
mod tests {
    /// Without an installed provider, reqwest (built with `rustls-no-provider`) panics here.
    #[test]
    fn a_client_builds() {
        assert!(super::builder().build().is_ok());
    }
}
