//! The agent's Prometheus metrics and the `/metrics` endpoint (`[metrics] listen`).
//!
//! Counters live in one static ([`METRICS`]); the spool's depth is read from the spool when
//! scraped. The text format is rendered by hand: a dozen counters and gauges need no library.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

use crate::spool::Spool;

/// A monotonically increasing count (or, for gauges, a value set as a whole).
#[derive(Debug, Default)]
pub struct Value(AtomicU64);

impl Value {
    pub const fn new() -> Self {
        Value(AtomicU64::new(0))
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn set(&self, n: u64) {
        self.0.store(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything the agent counts.
#[derive(Debug)]
pub struct Metrics {
    pub scans_started: Value,
    pub scans_finished: Value,
    pub scans_failed: Value,
    pub facts_spooled: Value,
    pub facts_acked: Value,
    pub batches_acked: Value,
    pub coverage_gaps: Value,
    pub incomplete_accounts: Value,
    pub reconnects: Value,
    pub scan_requests: Value,
    /// Gauge: milliseconds the last finished scan took.
    pub last_scan_duration_ms: Value,
    /// Gauge: unix seconds when the last scan finished.
    pub last_scan_finished_s: Value,
}

/// The agent's counters.
pub static METRICS: Metrics = Metrics {
    scans_started: Value::new(),
    scans_finished: Value::new(),
    scans_failed: Value::new(),
    facts_spooled: Value::new(),
    facts_acked: Value::new(),
    batches_acked: Value::new(),
    coverage_gaps: Value::new(),
    incomplete_accounts: Value::new(),
    reconnects: Value::new(),
    scan_requests: Value::new(),
    last_scan_duration_ms: Value::new(),
    last_scan_finished_s: Value::new(),
};

/// The Prometheus text exposition of [`METRICS`] and the spool's depth.
pub fn render(spool: Option<&Spool>) -> String {
    let m = &METRICS;
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        let _ = writeln!(out, "{name} {value}");
    };
    let counters: [(&str, &str, &Value); 10] = [
        (
            "landmeter_agent_scans_started_total",
            "Scans started.",
            &m.scans_started,
        ),
        (
            "landmeter_agent_scans_finished_total",
            "Scans whose facts were all spooled and ended.",
            &m.scans_finished,
        ),
        (
            "landmeter_agent_scans_failed_total",
            "Scans that could not run (planning or provider failure).",
            &m.scans_failed,
        ),
        (
            "landmeter_agent_facts_sent_total",
            "Facts spooled for the collector.",
            &m.facts_spooled,
        ),
        (
            "landmeter_agent_facts_acked_total",
            "Facts the collector acknowledged.",
            &m.facts_acked,
        ),
        (
            "landmeter_agent_batches_acked_total",
            "Batches the collector acknowledged.",
            &m.batches_acked,
        ),
        (
            "landmeter_agent_coverage_gaps_total",
            "Gap facts: cloud calls that failed for one store.",
            &m.coverage_gaps,
        ),
        (
            "landmeter_agent_incomplete_accounts_total",
            "Account scans that ended incomplete.",
            &m.incomplete_accounts,
        ),
        (
            "landmeter_agent_reconnects_total",
            "Reconnections to the collector after a failure.",
            &m.reconnects,
        ),
        (
            "landmeter_agent_scan_requests_total",
            "ScanRequests received from the collector.",
            &m.scan_requests,
        ),
    ];
    for (name, help, value) in counters {
        metric(name, "counter", help, value.get().to_string());
    }
    metric(
        "landmeter_agent_last_scan_duration_seconds",
        "gauge",
        "How long the last finished scan took.",
        format!("{:.3}", m.last_scan_duration_ms.get() as f64 / 1000.0),
    );
    metric(
        "landmeter_agent_last_scan_finished_timestamp_seconds",
        "gauge",
        "When the last scan finished (unix seconds; 0 before the first).",
        m.last_scan_finished_s.get().to_string(),
    );
    if let Some(spool) = spool {
        let (batches, bytes) = spool.depth();
        metric(
            "landmeter_agent_spool_batches",
            "gauge",
            "Batches spooled and not yet acknowledged.",
            batches.to_string(),
        );
        metric(
            "landmeter_agent_spool_bytes",
            "gauge",
            "Bytes of spooled batches not yet acknowledged.",
            bytes.to_string(),
        );
        metric(
            "landmeter_agent_spool_scans",
            "gauge",
            "Scans in the spool not yet closed at the collector.",
            spool.scans().to_string(),
        );
    }
    out
}

/// Reads `[metrics] bearer_token_file`: the token Prometheus must send for `/metrics`
/// (surrounding whitespace dropped; an empty file is an error, never an open endpoint).
pub fn read_bearer_token(path: &std::path::Path) -> Result<Arc<str>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("metrics.bearer_token_file {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "metrics.bearer_token_file {} is empty",
            path.display()
        ));
    }
    Ok(Arc::from(token))
}

/// Serves `/metrics` on `listener` until the task is dropped; with `token`, `/metrics`
/// answers only `Authorization: Bearer <token>` (`/live` and `/ready` stay open for probes).
pub async fn serve(listener: tokio::net::TcpListener, spool: Arc<Spool>, token: Option<Arc<str>>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let spool = Arc::clone(&spool);
                let token = token.clone();
                connections.spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let spool = Arc::clone(&spool);
                        let token = token.clone();
                        async move { Ok::<_, std::convert::Infallible>(answer(&req, &spool, token.as_deref())) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Whether the request carries `Authorization: Bearer <token>` (compared in constant time).
fn authorised<B>(req: &Request<B>, token: &str) -> bool {
    req.headers()
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|given| {
            // Every byte compared whatever the first difference: no timing hint.
            given.len() == token.len()
                && given
                    .bytes()
                    .zip(token.bytes())
                    .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                    == 0
        })
}

fn answer<B>(req: &Request<B>, spool: &Spool, token: Option<&str>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match req.uri().path() {
        "/metrics" if token.is_some_and(|t| !authorised(req, t)) => (
            StatusCode::UNAUTHORIZED,
            "text/plain",
            "a bearer token is required\n".to_owned(),
        ),
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            render(Some(spool)),
        ),
        "/live" | "/ready" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}

/// Binds `addr` and logs it.
pub async fn bind(addr: SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "metrics listening");
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let spool = Spool::memory(1024);
        let text = render(Some(&spool));
        for name in [
            "landmeter_agent_scans_started_total",
            "landmeter_agent_facts_acked_total",
            "landmeter_agent_spool_batches 0",
            "landmeter_agent_spool_bytes 0",
            "landmeter_agent_last_scan_duration_seconds",
            "landmeter_agent_coverage_gaps_total",
        ] {
            assert!(text.contains(name), "{name} missing:\n{text}");
        }
        assert!(text.contains("# TYPE landmeter_agent_spool_bytes gauge"));
    }

    /// With a token, `/metrics` over a real socket answers 401 without it or with another,
    /// 200 with it; `/live` stays open for probes.
    #[tokio::test]
    async fn a_bearer_token_guards_metrics_but_not_liveness() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let spool = Arc::new(Spool::memory(1024));
        let server = tokio::spawn(serve(listener, spool, Some(Arc::from("scrape-me"))));
        let get = |path: &'static str, auth: Option<&'static str>| async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(conn);
            let mut req = Request::get(path).header("host", "agent");
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let req = req.body(http_body_util::Empty::<Bytes>::new()).unwrap();
            send.send_request(req).await.unwrap().status()
        };
        assert_eq!(get("/metrics", None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(
            get("/metrics", Some("Bearer wrong")).await,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            get("/metrics", Some("Bearer scrape-me")).await,
            StatusCode::OK
        );
        assert_eq!(get("/live", None).await, StatusCode::OK);
        server.abort();
    }
}
