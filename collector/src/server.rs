//! Wires the collector: store, interpreter, gRPC services, health, reflection, shutdown.

use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;

use landmeter_proto::v1::enrol_service_server::EnrolServiceServer;
use landmeter_proto::v1::ingest_service_server::IngestServiceServer;
use landmeter_proto::v1::map_service_server::MapServiceServer;
use landmeter_proto::{FILE_DESCRIPTOR_SET, MAX_MESSAGE_BYTES};

use crate::api::grpc::MapApi;
use crate::config::CollectorConfig;
use crate::events::ChangeHub;
use crate::ingest::{Ingest, IngestLimits};
use crate::map::Interpreter;
use crate::map::reference::ReferenceTables;
use crate::metrics::Metrics;
use crate::store::MapStore;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("reading reference table {path}: {source}")]
    Table {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Reference(#[from] crate::map::reference::ReferenceError),
    #[error("opening database {url}: {source}")]
    Store {
        url: String,
        source: crate::store::StoreError,
    },
    #[error(transparent)]
    Reinterpret(crate::store::StoreError),
    #[error("listening for the changes of other collectors: {0}")]
    Listen(crate::store::StoreError),
    #[error("gRPC reflection: {0}")]
    Reflection(#[from] tonic_reflection::server::Error),
    #[error("HTTP side over TLS: {0}")]
    Https(#[from] crate::https::HttpsError),
    #[error("gRPC server: {0}")]
    Transport(#[from] tonic::transport::Error),
    #[error("gRPC TLS: {0}")]
    Tls(#[from] crate::tls_accept::TlsSetupError),
    #[error("the agents' CA for enrolment: {0}")]
    Ca(#[from] crate::pki::PkiError),
}

/// The interpreter as configured: shipped or edited tables, tag conventions; and a
/// fingerprint that changes whenever any of them does.
pub fn build_interpreter(cfg: &CollectorConfig) -> Result<(Interpreter, String), ServeError> {
    let read = |p: &Option<std::path::PathBuf>, builtin: &str| -> Result<String, ServeError> {
        match p {
            Some(path) => std::fs::read_to_string(path).map_err(|source| ServeError::Table {
                path: path.clone(),
                source,
            }),
            None => Ok(builtin.to_owned()),
        }
    };
    let regions = read(&cfg.regions_table, crate::map::reference::REGIONS_CSV)?;
    let providers = read(&cfg.providers_table, crate::map::reference::PROVIDERS_CSV)?;
    let tables = ReferenceTables::parse(&regions, &providers)?;
    let tags = cfg.tag_conventions();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (
        env!("CARGO_PKG_VERSION"),
        crate::map::indicators::RULES_VERSION,
        crate::map::lockin::RULES_VERSION,
        &regions,
        &providers,
        &tags.classification_keys,
        &tags.process_keys,
        &tags.client_side_keys,
    )
        .hash(&mut h);
    let fingerprint = format!("{:016x}", h.finish());
    crate::evidence::remember_tables(
        &fingerprint,
        &[("regions.csv", &regions), ("providers.csv", &providers)],
    );
    Ok((Interpreter::new(tables, tags), fingerprint))
}

/// Opens the store and brings its interpretation up to date with the current rules.
pub fn open_store(
    cfg: &CollectorConfig,
    interpreter: &Interpreter,
    fingerprint: &str,
) -> Result<Arc<dyn MapStore>, ServeError> {
    let migrations = if cfg.migrate {
        crate::store::Migrations::Apply
    } else {
        crate::store::Migrations::Refuse
    };
    let store =
        crate::store::open_with(&cfg.database, cfg.durability, migrations).map_err(|source| {
            ServeError::Store {
                url: crate::store::redacted_url(&cfg.database),
                source,
            }
        })?;
    if store
        .interpretation_fingerprint()
        .map_err(ServeError::Reinterpret)?
        .as_deref()
        != Some(fingerprint)
    {
        let n =
            crate::scan_end::reinterpret_all(store.as_ref(), interpreter, crate::clock::now_ms())
                .map_err(ServeError::Reinterpret)?;
        store
            .set_interpretation_fingerprint(fingerprint)
            .map_err(ServeError::Reinterpret)?;
        tracing::info!(
            stores = n,
            "re-interpreted the map with changed rules or tables"
        );
    }
    Ok(store)
}

/// The accepted connections, with Nagle's algorithm off: a response written in several
/// segments (a page of stores) must not wait for the peer's delayed ACK (40 ms on Linux).
fn incoming(
    listener: TcpListener,
) -> impl tokio_stream::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    use tokio_stream::StreamExt;
    TcpListenerStream::new(listener).map(|conn| {
        let conn = conn?;
        if let Err(e) = conn.set_nodelay(true) {
            // Slower answers, not a reason to refuse the connection.
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        Ok(conn)
    })
}

/// Serves gRPC on a bound listener until `shutdown` resolves, then drains.
pub async fn run(
    listener: TcpListener,
    store: Arc<dyn MapStore>,
    interpreter: Arc<Interpreter>,
    cfg: &CollectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    run_with_http(listener, None, store, interpreter, cfg, shutdown).await
}

/// [`run`], plus the HTTP side on `http` when given.
pub async fn run_with_http(
    listener: TcpListener,
    http: Option<TcpListener>,
    store: Arc<dyn MapStore>,
    interpreter: Arc<Interpreter>,
    cfg: &CollectorConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServeError> {
    let metrics = Arc::new(Metrics::default());
    let hub = ChangeHub::default();
    let connected = crate::agents::ConnectedAgents::default();
    // Every task is joined before this returns: the HTTP side stops with the gRPC side, and
    // alerts deliver what was committed before the change hub closed.
    let (stopping, stopped) = tokio::sync::watch::channel(false);
    // Watchers see every collector's changes when the database is shared, else this one's.
    let (watch_hub, shared_feed) = match store.change_wakeups().map_err(ServeError::Listen)? {
        Some(wakeups) => {
            let shared = ChangeHub::default();
            let feed = tokio::spawn(crate::events::follow_shared(
                Arc::clone(&store),
                wakeups,
                shared.clone(),
                stopped.clone(),
            ));
            (shared, Some(feed))
        }
        None => (hub.clone(), None),
    };
    // Scan requests recorded through any collector reach the agents connected to this one.
    let shared_requests = store
        .scan_request_wakeups()
        .map_err(ServeError::Listen)?
        .map(|wakeups| {
            tokio::spawn(crate::agents::follow_shared_requests(
                Arc::clone(&store),
                wakeups,
                connected.clone(),
                stopped.clone(),
            ))
        });
    let alerts = tokio::spawn(crate::alerts::run(
        cfg.alerts.clone(),
        hub.clone(),
        Arc::clone(&metrics),
    ));
    let http_task = match http {
        Some(http) => {
            let router = crate::api::http::router(crate::api::http::HttpState {
                store: Arc::clone(&store),
                hub: watch_hub.clone(),
                metrics: Arc::clone(&metrics),
                pool_min_tenants: cfg.pool_min_tenants,
                map: Arc::new(
                    MapApi::new(
                        Arc::clone(&store),
                        cfg.pool_min_tenants,
                        watch_hub.clone(),
                        connected.clone(),
                    )
                    .with_locale(cfg.locale().unwrap_or_default())
                    .with_tenant_languages(cfg.tenant_languages()),
                ),
                stopping: stopped.clone(),
                secure_cookies: cfg.http_tls.is_some(),
            });
            let mut stopped = stopped.clone();
            match &cfg.http_tls {
                Some(tls) => {
                    let tls = crate::https::server_config(tls)?;
                    Some(tokio::spawn(crate::https::serve(
                        http, router, tls, stopped,
                    )))
                }
                None => Some(tokio::spawn(async move {
                    let serve = axum::serve(http, router).with_graceful_shutdown(async move {
                        let _ = stopped.wait_for(|s| *s).await;
                    });
                    if let Err(e) = serve.await {
                        tracing::error!(error = %e, "http server stopped");
                    }
                })),
            }
        }
        None => None,
    };
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<IngestServiceServer<Ingest>>().await;
    health.set_serving::<MapServiceServer<MapApi>>().await;
    if cfg.tls.is_some() {
        health
            .set_serving::<EnrolServiceServer<crate::enrol::Enrol>>()
            .await;
    }
    // Reflection describes the API to anyone who connects: by default only on loopback.
    let bound_loopback = listener.local_addr().is_ok_and(|a| a.ip().is_loopback());
    let reflection = if cfg.reflection.unwrap_or(bound_loopback) {
        Some(
            tonic_reflection::server::Builder::configure()
                .register_encoded_file_descriptor_set(FILE_DESCRIPTOR_SET)
                .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
                .build_v1()?,
        )
    } else {
        None
    };
    let limits = IngestLimits {
        plaintext_tenant: cfg.insecure_plaintext.then(|| cfg.default_tenant.clone()),
        max_batches_per_second: cfg.max_batches_per_second,
    };
    let ingest = IngestServiceServer::new(Ingest::new(
        Arc::clone(&store),
        interpreter,
        limits,
        // Moved, not cloned: the alerts drain once the services holding it are gone.
        hub,
        Arc::clone(&metrics),
        connected.clone(),
    ))
    .max_decoding_message_size(MAX_MESSAGE_BYTES);
    // Enrolment only under TLS: a token never travels in plaintext. Signing needs the CA key.
    let enrol = match &cfg.tls {
        Some(tls) => {
            let ca_pem = std::fs::read_to_string(&tls.client_ca_file).map_err(|source| {
                crate::pki::PkiError::Io {
                    path: tls.client_ca_file.clone(),
                    source,
                }
            })?;
            let ca = match &tls.ca_key_file {
                Some(key) => Some(Arc::new(crate::pki::Ca::load_files(
                    &tls.client_ca_file,
                    key,
                )?)),
                None => None,
            };
            Some(EnrolServiceServer::new(crate::enrol::Enrol::new(
                Arc::clone(&store),
                ca_pem,
                ca,
                tls.agent_certificate_days
                    .unwrap_or(crate::enrol::DEFAULT_AGENT_CERTIFICATE_DAYS),
            )))
        }
        None => None,
    };
    let map = MapServiceServer::new(
        MapApi::new(store, cfg.pool_min_tenants, watch_hub, connected)
            .with_locale(cfg.locale().unwrap_or_default())
            .with_tenant_languages(cfg.tenant_languages()),
    )
    .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let router = tonic::transport::Server::builder()
        // One span per call (an ingest stream, a query): the root of its trace when traces
        // are exported; the operator's role and tenant are recorded once authenticated.
        .trace_fn(|req| {
            tracing::info_span!(
                "grpc",
                rpc = %req.uri().path(),
                role = tracing::field::Empty,
                tenant = tracing::field::Empty,
            )
        })
        .add_service(health_service)
        .add_optional_service(reflection)
        .add_service(ingest)
        .add_service(map)
        .add_optional_service(enrol);
    let served = match &cfg.tls {
        // Our own TLS accept, so refused handshakes are logged (tonic's drops them silently).
        Some(tls) => {
            let config = crate::tls_accept::grpc_server_config(tls)?;
            let refusals = Arc::new(crate::tls_accept::RefusalLog::new("gRPC"));
            let (connections, acceptor) = crate::tls_accept::incoming(listener, config, refusals);
            let served = router
                .serve_with_incoming_shutdown(connections, shutdown)
                .await;
            acceptor.abort();
            served
        }
        None => {
            router
                .serve_with_incoming_shutdown(incoming(listener), shutdown)
                .await
        }
    };
    drain(stopping, http_task, alerts).await;
    for feed in [shared_feed, shared_requests].into_iter().flatten() {
        if let Err(e) = feed.await {
            tracing::error!(error = %e, "shared feed failed");
        }
    }
    served?;
    Ok(())
}

/// Longest the alert deliveries may take after the servers stopped (a webhook retries
/// three times with backoff, about 3.5 s per rule).
const ALERT_DRAIN: std::time::Duration = std::time::Duration::from_secs(15);

/// Stops the HTTP side (open event streams end), then lets the alert task deliver the
/// changes already committed: it ends when the last sender of the change hub (held by the
/// services just stopped) is gone.
async fn drain(
    stopping: tokio::sync::watch::Sender<bool>,
    http: Option<tokio::task::JoinHandle<()>>,
    alerts: tokio::task::JoinHandle<()>,
) {
    let _ = stopping.send(true);
    if let Some(http) = http
        && let Err(e) = http.await
    {
        tracing::error!(error = %e, "http task failed");
    }
    match tokio::time::timeout(ALERT_DRAIN, alerts).await {
        Ok(Ok(())) => tracing::debug!("alerts drained"),
        Ok(Err(e)) => tracing::error!(error = %e, "alert task failed"),
        Err(_) => tracing::warn!("alerts still delivering at shutdown; left undelivered"),
    }
}
