//! landmeter agent: a read-only survey of cloud storage and key custody. It observes *facts*
//! (what an API said about a bucket, a key, a key store, or that a call failed) and streams
//! them to a landmeter collector, which interprets them.
//!
//! # Layout
//! - [`config`]: the TOML configuration and its layering (defaults < file < env < flags).
//! - [`scan`]: plans a scan (every configured cloud's accounts, one scan id) and runs it into
//!   a sink.
//! - [`sink`]: [`sink::FactSink`], the providers' only output, plus progress counters.
//! - [`providers`]: the [`providers::Provider`] trait and one folder per cloud (`aws`,
//!   `azure`), each with its configuration section, its registry of calls and, behind its
//!   Cargo feature, its scanning code; shared failure classification into gap kinds.
//! - [`uplink`]: batches a scan into the spool and delivers the spool to the collector
//!   (`IngestService.Stream`): acks, rejects, timeouts, reconnection with backoff, resends.
//!   The only module that knows the network protocol.
//! - [`spool`]: the durable spool (one file per unacknowledged batch), bounded by bytes.
//! - [`schedule`]: when the service scans (interval or cron, jitter, `ScanRequest`s), one
//!   scan at a time; pure next-time computation plus a loop on tokio's clock.
//! - [`metrics`]: Prometheus counters and the `/metrics` endpoint.
//! - [`output`]: `--output json`, a hand mapping of facts to JSON.
//! - [`arn`]: sans-IO parsing of ARNs and KMS key references.
//!
//! Invariants: providers never import the uplink, the spool or tonic, and never print; the
//! uplink and the spool know no cloud; a failed cloud call becomes a `Gap` fact (its topic
//! from the provider's call registry), never an aborted scan; a cloud that cannot be planned
//! is incomplete coverage, not a failed scan, unless it is the only one; the agent makes
//! read-only calls only (`AWS_CALLS`, `AZURE_CALLS`).

pub mod arn;
pub mod config;
pub mod metrics;
pub mod output;
pub mod providers;
pub mod scan;
pub mod schedule;
pub mod sink;
pub mod spool;
pub mod uplink;

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use landmeter_proto::v1::AccountCoverage;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::metrics::METRICS;
use crate::scan::{ScanError, ScanPlan};
use crate::sink::{FactSink, Progress};
use crate::spool::{Spool, SpoolError};
use crate::uplink::{Reconnect, ScanStart, Until, UplinkConfig, UplinkError};

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
    #[error(transparent)]
    Spool(#[from] SpoolError),
    #[error("`run` needs a spool directory: set [spool] dir (or LANDMETER_AGENT_SPOOL_DIR)")]
    NoSpoolDir,
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("writing the json output: {0}")]
    Output(std::io::Error),
    #[error("cannot listen for metrics on {addr}: {source}")]
    Metrics {
        addr: String,
        source: std::io::Error,
    },
}

/// Opens the configured spool (or a memory spool) and closes the scans a previous run left
/// unfinished, so they are delivered first.
pub fn open_spool(config: &Config) -> Result<Arc<Spool>, AgentError> {
    let spool = match &config.spool.dir {
        Some(dir) => Spool::open(dir, config.spool.max_bytes)?,
        None => Spool::memory(config.spool.max_bytes),
    };
    spool.close_abandoned("the agent stopped before the scan ended; a later scan covers it")?;
    Ok(Arc::new(spool))
}

/// How the uplink reaches the collector; it reconnects when the spool is durable.
pub fn uplink_config(config: &Config) -> Result<UplinkConfig, AgentError> {
    let mut urls = config.collector.all_urls().into_iter();
    Ok(UplinkConfig {
        url: urls.next().unwrap_or_default(),
        other_urls: urls.collect(),
        agent_name: config.name.clone(),
        connect_timeout: Duration::from_secs(10),
        ack_timeout: Duration::from_secs(config.collector.ack_timeout_secs),
        tls: uplink_tls(&config.collector)?,
        reconnect: config.spool.dir.is_some().then(|| Reconnect {
            max_delay: Duration::from_secs(config.collector.reconnect_max_secs),
        }),
        capabilities: crate::providers::capabilities(),
    })
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
        (Some(cert), Some(key)) => {
            Some(crate::uplink::ClientIdentity::new(read(cert)?, read(key)?))
        }
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

/// Scans and writes the facts to `out` as one JSON document (`--output json`), each fact as
/// it arrives.
pub async fn scan_to_json<W: Write>(config: &Config, out: W) -> Result<ScanSummary, AgentError> {
    let started = Instant::now();
    let plan = scan::plan(config).await?;
    let scan_id = plan.scan_id.clone();
    let accounts = plan.accounts.len();
    let (sink, mut facts_rx) = FactSink::channel(SINK_CAPACITY);
    let progress = sink.progress();
    let mut writer = output::DocumentWriter::start(out, &scan_id).map_err(AgentError::Output)?;

    // Facts are written as they arrive. On a write error the receiver is dropped, which
    // closes the sink and ends the scan.
    let write_facts = async move {
        while let Some(fact) = facts_rx.recv().await {
            writer.fact(&fact)?;
        }
        Ok::<_, std::io::Error>(writer)
    };
    let (coverage, written) = with_progress(&progress, async {
        tokio::join!(scan::run(plan, sink), write_facts)
    })
    .await;
    let writer = written.map_err(AgentError::Output)?;
    let coverage = coverage?;
    writer.finish(&coverage).map_err(AgentError::Output)?;
    Ok(summary(scan_id, accounts, &progress, started, coverage))
}

/// Scans and streams the facts to the collector named in `config`: delivers what a
/// previous run left in the spool, then this scan, and returns when the collector has closed
/// it. With `[spool] dir` a collector that is down or restarting only delays delivery.
pub async fn scan_to_collector(config: &Config) -> Result<ScanSummary, AgentError> {
    let spool = open_spool(config)?;
    let uplink_config = uplink_config(config)?;
    scan_into_spool(config, &spool, |scan_id| {
        let spool = Arc::clone(&spool);
        let uplink_config = uplink_config.clone();
        async move {
            let delivered =
                uplink::deliver(&uplink_config, &spool, Until::Delivered(scan_id), None).await?;
            tracing::debug!(
                batches = delivered.batches,
                duplicates = delivered.duplicates,
                scans = delivered.scans,
                "collector acknowledged the scan"
            );
            Ok(())
        }
    })
    .await
}

/// Runs one scan into `spool`, concurrently with `deliver(scan_id)` (which may return at
/// once, when delivery runs elsewhere). The scan's facts are all spooled, and delivered when
/// `deliver` says so, before this returns.
async fn scan_into_spool<D, Fut>(
    config: &Config,
    spool: &Spool,
    deliver: D,
) -> Result<ScanSummary, AgentError>
where
    D: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Result<(), UplinkError>>,
{
    let started = Instant::now();
    METRICS.scans_started.add(1);
    let plan: ScanPlan = match scan::plan(config).await {
        Ok(plan) => plan,
        Err(err) => {
            METRICS.scans_failed.add(1);
            return Err(err.into());
        }
    };
    let scan_id = plan.scan_id.clone();
    let accounts = plan.accounts.len();
    let start = ScanStart {
        scan_id: plan.scan_id.clone(),
        started_at_ms: plan.started_at_ms,
        accounts: plan.accounts.clone(),
        providers: plan.providers.clone(),
    };
    spool.begin(&start.begin())?;
    let (sink, facts_rx) = FactSink::channel(SINK_CAPACITY);
    let progress = sink.progress();
    let (coverage_tx, coverage_rx) = oneshot::channel();

    let scan = async move {
        let result = scan::run(plan, sink).await;
        if let Ok(coverage) = &result {
            // The spooler may have failed already; its error is reported then.
            let _ = coverage_tx.send(coverage.clone());
        }
        result
    };
    let produce_and_deliver = async {
        tokio::try_join!(
            uplink::spool_scan(spool, &start, facts_rx, coverage_rx),
            deliver(scan_id.clone()),
        )
    };
    let (scan_result, uplink_result) =
        with_progress(&progress, async { tokio::join!(scan, produce_and_deliver) }).await;
    // An uplink failure closes the sink and so also fails the scan: report the cause.
    let (produced, ()) = uplink_result?;
    let coverage = match scan_result {
        Ok(coverage) => coverage,
        Err(err) => {
            METRICS.scans_failed.add(1);
            return Err(err.into());
        }
    };
    let summary = summary(scan_id, accounts, &progress, started, coverage);
    METRICS.scans_finished.add(1);
    METRICS.coverage_gaps.add(summary.gaps);
    METRICS
        .incomplete_accounts
        .add((summary.accounts - summary.complete_accounts) as u64);
    METRICS
        .last_scan_duration_ms
        .set(started.elapsed().as_millis() as u64);
    METRICS
        .last_scan_finished_s
        .set(u64::try_from(now_ms() / 1000).unwrap_or_default());
    tracing::debug!(
        batches = produced.batches,
        facts = produced.facts,
        "scan spooled"
    );
    Ok(summary)
}

/// The service (`landmeter-agent run`): delivers the spool for ever, scans on the schedule
/// and on the collector's `ScanRequest`s (one at a time), serves `/metrics` when configured;
/// returns when `shutdown` completes.
pub async fn run_service(
    config: &Config,
    shutdown: impl std::future::Future<Output = ()>,
) -> Result<(), AgentError> {
    if config.spool.dir.is_none() {
        return Err(AgentError::NoSpoolDir);
    }
    let schedule = config.schedule.schedule().map_err(AgentError::Config)?;
    let spool = open_spool(config)?;
    let uplink_config = uplink_config(config)?;
    let metrics = match &config.metrics.listen {
        Some(addr) => {
            let parsed = addr
                .parse()
                .map_err(|_| AgentError::Config(format!("metrics.listen {addr:?}")))?;
            let listener = metrics::bind(parsed)
                .await
                .map_err(|source| AgentError::Metrics {
                    addr: addr.clone(),
                    source,
                })?;
            let token = match &config.metrics.bearer_token_file {
                Some(path) => Some(metrics::read_bearer_token(path).map_err(AgentError::Config)?),
                None => None,
            };
            Some(metrics::serve(listener, Arc::clone(&spool), token))
        }
        None => None,
    };
    let metrics = async {
        match metrics {
            Some(serve) => serve.await,
            None => std::future::pending().await,
        }
    };
    // Renewal at two thirds of the certificate's lifetime, when the agent has one.
    let renewal = match (
        &uplink_config.tls,
        &config.collector.cert_file,
        &config.collector.key_file,
    ) {
        (Some(tls), Some(cert_file), Some(key_file)) => match &tls.identity {
            Some(identity) => Some(uplink::enrol::run_renewal(
                uplink::enrol::Renewal {
                    urls: config.collector.all_urls(),
                    ca_pem: tls.ca_pem.clone(),
                    cert_file: cert_file.into(),
                    key_file: key_file.into(),
                    identity: identity.clone(),
                    connect_timeout: uplink_config.connect_timeout,
                },
                schedule::Clock::system(),
            )),
            None => None,
        },
        _ => None,
    };
    // Never ends: a renewal that gives up (an unreadable certificate) has logged why.
    let renewal = async {
        if let Some(renewal) = renewal {
            renewal.await;
        }
        std::future::pending::<()>().await
    };
    let (requests_tx, requests_rx) = tokio::sync::mpsc::channel(1);
    let delivery = uplink::deliver(&uplink_config, &spool, Until::Forever, Some(requests_tx));
    let scans = schedule::run(
        &schedule,
        schedule::Clock::system(),
        schedule::Jitter::from_entropy(),
        requests_rx,
        || async {
            match scan_into_spool(config, &spool, |_| async { Ok(()) }).await {
                Ok(summary) => log_summary(&summary),
                Err(err) => tracing::error!(error = %err, "scan failed"),
            }
        },
    );
    tokio::select! {
        result = delivery => result.map(|_| ()).map_err(AgentError::from),
        () = scans => Ok(()),
        () = metrics => Ok(()),
        () = renewal => Ok(()),
        () = shutdown => {
            let (batches, bytes) = spool.depth();
            tracing::info!(spool_batches = batches, spool_bytes = bytes, "shutting down; the spool keeps what is not delivered");
            Ok(())
        }
    }
}

/// The closing log line of a scan.
pub fn log_summary(summary: &ScanSummary) {
    tracing::info!(
        scan_id = %summary.scan_id,
        accounts = summary.accounts,
        complete_accounts = summary.complete_accounts,
        buckets = summary.buckets,
        facts = summary.facts,
        gaps = summary.gaps,
        seconds = format_args!("{:.1}", summary.seconds),
        "scan finished"
    );
    for c in summary.coverage.iter().filter(|c| !c.complete) {
        tracing::warn!(account = %c.account, reason = %c.reason, "account incomplete");
    }
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
