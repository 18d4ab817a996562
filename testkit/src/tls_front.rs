//! TLS in front of a test broker: tansu 0.6 takes `--cert`/`--key` but does not yet serve TLS
//! with them, so a listener of ours ends TLS and passes the bytes on to tansu's plaintext
//! port. The certificate is signed by a CA made for the test; clients trust that CA alone, and
//! the certificate names 127.0.0.1, so a client that checks hostnames accepts it.

use std::{
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::{
    TlsAcceptor,
    rustls::{
        ServerConfig,
        crypto::ring,
        pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    },
};

use crate::test_ca::TestCa;

pub(crate) struct TlsFront {
    /// The CA's certificate, PEM: what a client's `ssl.ca.location` points at.
    pub ca_file: PathBuf,
    refused: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

impl TlsFront {
    /// Serves TLS on `listen`, passing every connection on to `upstream`.
    pub fn start(listen: u16, upstream: u16) -> Self {
        let ca = TestCa::new("chat-suite test CA");
        let issued = ca.issue("test broker");
        let dir = tempfile::tempdir().unwrap();
        let ca_file = ca.write(dir.path(), "ca");

        let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![CertificateDer::from(issued.cert_der)],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(issued.key_der)),
            )
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind(("127.0.0.1", listen)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let refused = Arc::new(AtomicUsize::new(0));
        let counted = refused.clone();
        // A runtime of its own: brokers start from synchronous code, inside or outside one.
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = TcpListener::from_std(listener).unwrap();
                tokio::select! {
                    () = serve(listener, acceptor, SocketAddr::from(([127, 0, 0, 1], upstream)), counted) => {}
                    _ = stopped => {}
                }
            });
        });
        Self { ca_file, refused, _dir: dir, stop: Some(stop) }
    }

    /// Handshakes that failed: clients that did not trust the certificate, say.
    pub fn refused_handshakes(&self) -> usize {
        self.refused.load(Ordering::Acquire)
    }
}

async fn serve(listener: TcpListener, acceptor: TlsAcceptor, upstream: SocketAddr, refused: Arc<AtomicUsize>) {
    loop {
        let Ok((client, _)) = listener.accept().await else { continue };
        let (acceptor, refused) = (acceptor.clone(), refused.clone());
        tokio::spawn(async move {
            let Ok(mut client) = acceptor.accept(client).await else {
                refused.fetch_add(1, Ordering::AcqRel);
                return;
            };
            let Ok(mut broker) = TcpStream::connect(upstream).await else { return };
            let _ = tokio::io::copy_bidirectional(&mut client, &mut broker).await;
        });
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
