//! `landmeter serve`: configuration from file, environment and flags, then the server until
//! Ctrl-C.

use std::sync::Arc;

use anyhow::Context;

use super::{ServeArgs, load_config};

pub(super) async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let mut cfg = load_config(args.config.as_deref())?;
    if let Some(l) = args.listen {
        cfg.listen = l;
    }
    if let Some(db) = args.db {
        cfg.database = db;
    }
    if let Some(t) = args.tenant {
        cfg.default_tenant = t;
    }
    if args.insecure_plaintext {
        cfg.insecure_plaintext = true;
    }
    if args.no_migrate {
        cfg.migrate = false;
    }
    if let (Some(cert_file), Some(key_file)) = (args.http_tls_cert, args.http_tls_key) {
        cfg.http_tls = Some(crate::https::HttpTlsConfig {
            cert_file,
            key_file,
        });
    }
    if let Some(h) = args.http_listen {
        cfg.http_listen = Some(h);
    }
    if let (Some(cert_file), Some(key_file), Some(client_ca_file)) =
        (args.tls_cert, args.tls_key, args.client_ca)
    {
        cfg.tls = Some(crate::config::TlsConfig {
            cert_file,
            key_file,
            client_ca_file,
            ca_key_file: args.ca_key,
            agent_certificate_days: args.agent_cert_days,
        });
    }
    cfg.validate()?;
    let (interpreter, fingerprint) = crate::server::build_interpreter(&cfg)?;
    let store = crate::server::open_store(&cfg, &interpreter, &fingerprint)?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr()?;
    let http = match cfg.http_listen {
        Some(a) => Some(
            tokio::net::TcpListener::bind(a)
                .await
                .with_context(|| format!("binding {a}"))?,
        ),
        None => None,
    };
    // First stdout line, for scripts and tests that asked for port 0.
    println!("listening on {addr}");
    if let Some(h) = &http {
        println!("http on {}", h.local_addr()?);
    }
    if cfg.insecure_plaintext {
        tracing::warn!(%addr, tenant = %cfg.default_tenant, "serving PLAINTEXT without agent certificates (--insecure-plaintext): local demo only");
    }
    let database = crate::store::redacted_url(&cfg.database);
    tracing::info!(%addr, %database, tls = cfg.tls.is_some(), "collector serving gRPC");
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            let term = async move {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending().await,
                }
            };
            tokio::select! { _ = ctrl_c => {}, _ = term => {} }
        }
        #[cfg(not(unix))]
        let _ = ctrl_c.await;
        tracing::info!("shutting down");
    };
    crate::server::run_with_http(listener, http, store, Arc::new(interpreter), &cfg, shutdown)
        .await?;
    Ok(())
}
