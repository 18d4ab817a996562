//! The process's rustls crypto provider: ring, the one TLS stack in Rust we build. reqwest is
//! built without a provider of its own and redis-rs builds its TLS configurations with the
//! process's default, so every client of either is made after [`install`].

use std::sync::Once;

pub fn install() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // Err means another provider was installed first (by an embedding program): it serves.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
