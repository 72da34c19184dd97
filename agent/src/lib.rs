//! landmeter agent: a read-only survey of cloud storage and key custody. It observes *facts*
//! (what an API said about a bucket, a key, a key store, or that a call failed) and streams
//! them to a landmeter collector, which interprets them.
//!
//! # Layout
//! - [`config`]: the TOML configuration and its layering (defaults < file < env < flags).
//! - [`scan`]: plans a scan (accounts, scan id) and runs it into a sink.
//! - [`sink`]: [`sink::FactSink`], the providers' only output, plus progress counters.
//! - [`providers`]: one module per cloud behind its Cargo feature (`aws`, `azure`); shared
//!   failure classification into gap kinds. `[azure] enabled = true` makes a scan cover Azure.
//! - [`uplink`]: streams a scan to the collector (`IngestService.Stream`): batches, acks,
//!   backpressure, timeouts. The only module that knows the network protocol.
//! - [`output`]: `--output json`, a hand mapping of facts to JSON.
//! - [`arn`]: sans-IO parsing of ARNs and KMS key references.
//!
//! Invariants: providers never import tonic and never print; a failed cloud call becomes a
//! `Gap` fact, never an aborted scan; the agent makes read-only calls only (`AWS_CALLS`,
//! `AZURE_CALLS`).

pub mod arn;
pub mod config;
pub mod output;
pub mod providers;
pub mod scan;
pub mod sink;
pub mod uplink;

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use landmeter_proto::v1::{AccountCoverage, Fact};
use tokio::sync::oneshot;

use crate::config::Config;
use crate::scan::{ScanError, ScanPlan};
use crate::sink::{FactReceiver, FactSink, Progress};
use crate::uplink::{ScanStart, UplinkConfig, UplinkError};

/// This agent's version, sent in `Hello`.
pub const AGENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Facts buffered between the scan and its consumer.
const SINK_CAPACITY: usize = 4 * uplink::FACTS_PER_BATCH;

/// Why a scan command failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("scan failed: {0}")]
    Scan(#[from] ScanError),
    #[error("uplink failed: {0}")]
    Uplink(#[from] UplinkError),
    #[error("reading {path}: {source}")]
    TlsFile {
        path: String,
        source: std::io::Error,
    },
}

/// Reads the TLS material the collector section names (none for plaintext).
fn uplink_tls(c: &config::CollectorConfig) -> Result<Option<crate::uplink::UplinkTls>, AgentError> {
    let read = |path: &String| {
        std::fs::read(path).map_err(|source| AgentError::TlsFile {
            path: path.clone(),
            source,
        })
    };
    let Some(ca) = &c.ca_file else {
        return Ok(None);
    };
    let identity = match (&c.cert_file, &c.key_file) {
        (Some(cert), Some(key)) => Some((read(cert)?, read(key)?)),
        _ => None,
    };
    Ok(Some(crate::uplink::UplinkTls {
        ca_pem: read(ca)?,
        identity,
    }))
}

/// What a finished scan did, for the closing log line.
#[derive(Debug, Clone)]
pub struct ScanSummary {
    pub scan_id: String,
    pub accounts: usize,
    pub complete_accounts: usize,
    pub buckets: u64,
    pub facts: u64,
    pub gaps: u64,
    pub seconds: f64,
    pub coverage: Vec<AccountCoverage>,
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Scans and returns the facts as one JSON document (`--output json`).
pub async fn scan_to_json(config: &Config) -> Result<(serde_json::Value, ScanSummary), AgentError> {
    let started = Instant::now();
    let plan = scan::plan(config).await?;
    let scan_id = plan.scan_id.clone();
    let accounts = plan.accounts.len();
    let (sink, facts_rx) = FactSink::channel(SINK_CAPACITY);
    let progress = sink.progress();

    let (coverage, facts) = with_progress(&progress, async {
        tokio::join!(scan::run(plan, sink), collect(facts_rx))
    })
    .await;
    let coverage = coverage?;
    let document = output::scan_document(&scan_id, &facts, &coverage);
    Ok((
        document,
        summary(scan_id, accounts, &progress, started, coverage),
    ))
}

/// Scans and streams the facts to the collector named in `config`.
pub async fn scan_to_collector(config: &Config) -> Result<ScanSummary, AgentError> {
    let started = Instant::now();
    let plan: ScanPlan = scan::plan(config).await?;
    let scan_id = plan.scan_id.clone();
    let accounts = plan.accounts.len();
    let start = ScanStart {
        scan_id: plan.scan_id.clone(),
        started_at_ms: plan.started_at_ms,
        accounts: plan.accounts.clone(),
        provider: plan.provider.clone(),
    };
    let uplink_config = UplinkConfig {
        url: config.collector.url.clone(),
        agent_name: config.name.clone(),
        connect_timeout: Duration::from_secs(10),
        ack_timeout: Duration::from_secs(config.collector.ack_timeout_secs),
        tls: uplink_tls(&config.collector)?,
    };
    let (sink, facts_rx) = FactSink::channel(SINK_CAPACITY);
    let progress = sink.progress();
    let (coverage_tx, coverage_rx) = oneshot::channel();

    let scan = async move {
        let result = scan::run(plan, sink).await;
        if let Ok(coverage) = &result {
            // The uplink may have failed already; its error is reported then.
            let _ = coverage_tx.send(coverage.clone());
        }
        result
    };
    let (scan_result, uplink_result) = with_progress(&progress, async {
        tokio::join!(
            scan,
            uplink::stream_scan(&uplink_config, start, facts_rx, coverage_rx)
        )
    })
    .await;
    // An uplink failure closes the sink and so also fails the scan: report the cause.
    let report = uplink_result?;
    let coverage = scan_result?;
    tracing::debug!(
        batches = report.batches,
        facts = report.facts,
        duplicates = report.duplicates,
        "collector acknowledged the scan"
    );
    Ok(summary(scan_id, accounts, &progress, started, coverage))
}

async fn collect(mut rx: FactReceiver) -> Vec<Fact> {
    let mut facts = Vec::new();
    while let Some(fact) = rx.recv().await {
        facts.push(fact);
    }
    facts
}

fn summary(
    scan_id: String,
    accounts: usize,
    progress: &Progress,
    started: Instant,
    coverage: Vec<AccountCoverage>,
) -> ScanSummary {
    let snapshot = progress.snapshot();
    ScanSummary {
        scan_id,
        accounts,
        complete_accounts: coverage.iter().filter(|c| c.complete).count(),
        buckets: coverage.iter().map(|c| c.stores_seen).sum(),
        facts: snapshot.facts,
        gaps: snapshot.gaps,
        seconds: started.elapsed().as_secs_f64(),
        coverage,
    }
}

/// Runs `work`, drawing a progress line on stderr meanwhile when stderr is a terminal.
async fn with_progress<F: std::future::Future>(progress: &Progress, work: F) -> F::Output {
    if !std::io::stderr().is_terminal() {
        return work.await;
    }
    let (done_tx, mut done_rx) = oneshot::channel::<()>();
    let work = async move {
        let output = work.await;
        let _ = done_tx.send(());
        output
    };
    let ticker = async {
        let mut interval = tokio::time::interval(Duration::from_millis(500));
        loop {
            tokio::select! {
                _ = &mut done_rx => break,
                _ = interval.tick() => {
                    let line = scan::progress_line(&progress.snapshot());
                    let _ = write!(std::io::stderr(), "\r\x1b[K{line}");
                }
            }
        }
        let _ = write!(std::io::stderr(), "\r\x1b[K");
    };
    let (output, ()) = tokio::join!(work, ticker);
    output
}
