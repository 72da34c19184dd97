//! The HTTP side over TLS (`http_tls` / `--http-tls-cert --http-tls-key`), so the web UI and
//! the JSON API can be published on a real host without a proxy in front. Plaintext HTTP
//! stays loopback-only.
//!
//! axum serves plaintext only; here each accepted connection gets a rustls handshake (on
//! aws-lc-rs, as everywhere in the workspace) and is then served by hyper with the same
//! router. A refused handshake is logged with the peer and the reason, at most once a second.

use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::tls_accept::RefusalLog;

/// Where the HTTP side's certificate and key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTlsConfig {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpsError {
    #[error("reading {path}: {message}")]
    Pem { path: PathBuf, message: String },
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}

/// The server side of TLS for the HTTP listener: the certificate chain and key, HTTP/1.1.
pub fn server_config(tls: &HttpTlsConfig) -> Result<Arc<rustls::ServerConfig>, HttpsError> {
    let (certs, key) =
        crate::tls_accept::identity(&tls.cert_file, &tls.key_file).map_err(|e| match e {
            crate::tls_accept::TlsSetupError::Pem { path, message } => {
                HttpsError::Pem { path, message }
            }
            other => HttpsError::Pem {
                path: tls.cert_file.clone(),
                message: other.to_string(),
            },
        })?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Serves `router` over TLS on `listener` until `stopping` turns true, then lets the open
/// connections finish (event streams end on the same signal) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Arc<rustls::ServerConfig>,
    mut stopping: watch::Receiver<bool>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let refusals = Arc::new(RefusalLog::new("HTTP"));
    let mut connections = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stopped(&mut stopping) => break,
            accepted = listener.accept() => accepted,
        };
        let (tcp, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "https accept failed");
                continue;
            }
        };
        let (acceptor, router, refusals) =
            (acceptor.clone(), router.clone(), Arc::clone(&refusals));
        let mut stop = stopping.clone();
        connections.spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(tls) => tls,
                Err(e) => {
                    refusals.note(peer, &e.to_string());
                    return;
                }
            };
            let service = TowerToHyperService::new(router);
            let conn = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service);
            tokio::pin!(conn);
            tokio::select! {
                served = conn.as_mut() => {
                    if let Err(e) = served {
                        tracing::debug!(%peer, error = %e, "https connection ended");
                    }
                }
                () = stopped(&mut stop) => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
        // Reap what finished, so the set holds only open connections.
        while connections.try_join_next().is_some() {}
    }
    while connections.join_next().await.is_some() {}
}

/// Resolves once the collector stops (the watch's guard is not held across awaits).
async fn stopped(stopping: &mut watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
