//! TLS in front of the gRPC listener, done here rather than by tonic so that a refused
//! handshake (an expired or foreign client certificate, a plaintext client, a scanner) is
//! logged with the peer and the reason; tonic drops such connections silently. The HTTP side
//! over TLS (`https`) logs its refusals the same way.
//!
//! rustls on aws-lc-rs as everywhere in the workspace; HTTP/2 by ALPN; the client
//! certificate optional at the handshake (operators use tokens; the ingest service refuses a
//! stream without one) and verified against the agents' CA when given. Tonic still reads the
//! peer certificates and address from the stream it gets (`TlsStream` implements
//! `Connected`), so the ingest's certificate checks are unchanged.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;

/// How long a client may take to finish its handshake before the connection is dropped (a
/// half-open handshake must not hold a task forever).
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("reading {path}: {message}")]
    Pem {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client CA {path}: {message}")]
    ClientCa {
        path: std::path::PathBuf,
        message: String,
    },
}

fn pem_error(path: &Path, e: impl std::fmt::Display) -> TlsSetupError {
    TlsSetupError::Pem {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// The certificate chain and key of a server, from PEM files.
pub fn identity(
    cert_file: &Path,
    key_file: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsSetupError> {
    let certs = CertificateDer::pem_file_iter(cert_file)
        .map_err(|e| pem_error(cert_file, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(cert_file, e))?;
    let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| pem_error(key_file, e))?;
    Ok((certs, key))
}

/// The gRPC listener's TLS: HTTP/2, client certificates optional and, when given, verified
/// against `client_ca_file`.
pub fn grpc_server_config(
    tls: &crate::config::TlsConfig,
) -> Result<Arc<rustls::ServerConfig>, TlsSetupError> {
    let (certs, key) = identity(&tls.cert_file, &tls.key_file)?;
    let mut roots = RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(&tls.client_ca_file)
        .map_err(|e| pem_error(&tls.client_ca_file, e))?
    {
        roots
            .add(ca.map_err(|e| pem_error(&tls.client_ca_file, e))?)
            .map_err(|e| TlsSetupError::ClientCa {
                path: tls.client_ca_file.clone(),
                message: e.to_string(),
            })?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsSetupError::ClientCa {
            path: tls.client_ca_file.clone(),
            message: e.to_string(),
        })?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

/// Accepts on `listener`, handshakes each connection in its own task (one slow client does
/// not hold up the others) and yields the established streams. Refused handshakes are
/// logged through `refusals`. The accept task stops when the returned handle is aborted or
/// the stream is dropped.
pub fn incoming(
    listener: TcpListener,
    config: Arc<rustls::ServerConfig>,
    refusals: Arc<RefusalLog>,
) -> (
    tokio_stream::wrappers::ReceiverStream<std::io::Result<TlsStream<TcpStream>>>,
    JoinHandle<()>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let task = tokio::spawn(async move {
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "gRPC accept failed");
                    // A full file table clears up; do not spin on it.
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if let Err(e) = tcp.set_nodelay(true) {
                // Slower answers, not a reason to refuse the connection.
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
            let (acceptor, sender, refusals) =
                (acceptor.clone(), tx.clone(), Arc::clone(&refusals));
            tokio::spawn(async move {
                match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                    Ok(Ok(tls)) => {
                        let _ = sender.send(Ok(tls)).await;
                    }
                    Ok(Err(e)) => refusals.note(peer, &e.to_string()),
                    Err(_) => refusals.note(peer, "handshake not finished within 10 s"),
                }
            });
            if tx.is_closed() {
                break;
            }
        }
    });
    (tokio_stream::wrappers::ReceiverStream::new(rx), task)
}

/// Refused handshakes, logged with peer and reason at most once a second (a scanner or a
/// misconfigured client must not flood the log); the others are counted into the next line.
pub struct RefusalLog {
    side: &'static str,
    last_logged_s: AtomicI64,
    suppressed: AtomicI64,
}

impl RefusalLog {
    /// `side` names the listener in the log line ("gRPC", "HTTP").
    pub fn new(side: &'static str) -> Self {
        RefusalLog {
            side,
            last_logged_s: AtomicI64::new(0),
            suppressed: AtomicI64::new(0),
        }
    }

    pub fn note(&self, peer: SocketAddr, reason: &str) {
        let now_s = crate::clock::now_ms() / 1000;
        let last = self.last_logged_s.load(Ordering::Relaxed);
        if now_s > last
            && self
                .last_logged_s
                .compare_exchange(last, now_s, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let suppressed = self.suppressed.swap(0, Ordering::Relaxed);
            tracing::warn!(%peer, reason, suppressed, side = self.side, "refused TLS handshake");
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
        }
    }
}
