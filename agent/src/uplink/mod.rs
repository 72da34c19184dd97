//! Delivers spooled scans to the collector over `IngestService.Stream`.
//!
//! Two halves meet at the [`Spool`]:
//! - [`spool_scan`] turns a scan's facts into `FactsBatch`es numbered 1, 2, 3, ... of at most
//!   [`FACTS_PER_BATCH`] facts (flushed when full, when the scan ends, or [`BATCH_LINGER`] after
//!   their first fact) and spools each before anything is sent; then the `ScanEnd` with the
//!   batch count and the coverage. A full spool makes it wait, and so pauses the scan.
//! - [`deliver`] keeps a stream to the collector: `Hello`, then for each spooled scan in order
//!   `ScanBegin`, its batches (at most [`MAX_UNACKED_BATCHES`] unacknowledged), and `ScanEnd`
//!   once every batch is acknowledged. An `Ack` removes a batch from the spool; the `Ack` with
//!   seq 0 after `ScanEnd` removes the scan. When the stream fails (collector down or
//!   restarting, no answer within the ack timeout, `RATE_LIMITED`) it reconnects with capped
//!   exponential backoff and resends what is still spooled, from `Hello` on: the collector
//!   acknowledges a resent batch as a duplicate, so a resend is harmless. Any other `Reject` is
//!   final for that scan: it is set aside in the spool and reported.
//!
//! Several collector URLs (collectors sharing one database): a connection that fails moves to
//! the next URL in order, with the same backoff; the spool makes the switch lossless, and a
//! batch the previous collector had committed is acknowledged by the next as a duplicate.
//!
//! A `ScanRequest` from the collector is passed to whoever asked for them (the scheduler).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use landmeter_proto::v1::ingest_service_client::IngestServiceClient;
use landmeter_proto::v1::{
    AccountCoverage, AgentMessage, CollectorMessage, Fact, FactsBatch, Hello, RejectCode,
    ScanBegin, ScanEnd, ScanRequest, agent_message, collector_message,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

pub mod enrol;

pub use enrol::ClientIdentity;

use crate::metrics::METRICS;
use crate::sink::FactReceiver;
use crate::spool::{Spool, SpoolError};

/// Facts per `FactsBatch` (the collector accepts up to `landmeter_proto::MAX_FACTS_PER_BATCH`).
pub const FACTS_PER_BATCH: usize = 500;
/// Batches sent but not yet acknowledged, at most.
pub const MAX_UNACKED_BATCHES: usize = 16;
/// How long a partial batch waits for more facts before it is spooled and sent.
pub const BATCH_LINGER: Duration = Duration::from_secs(1);
/// Capabilities announced in `Hello` by every agent; the caller adds what it can scan
/// ([`UplinkConfig::capabilities`]), since the uplink knows no cloud.
pub const CAPABILITIES: &[&str] = &["facts.v1", "spool.v1"];
/// First pause before reconnecting; doubled after each failure up to `Reconnect::max_delay`.
pub const RECONNECT_INITIAL_DELAY: Duration = Duration::from_millis(200);

/// Where and how to stream.
#[derive(Debug, Clone)]
pub struct UplinkConfig {
    pub url: String,
    /// Further collectors (sharing one database with the first), tried in order after `url`
    /// when a connection fails; the one that answers is kept until it fails in turn.
    pub other_urls: Vec<String>,
    pub agent_name: String,
    pub connect_timeout: Duration,
    /// Longest wait for any answer while a batch or `ScanEnd` is unacknowledged.
    pub ack_timeout: Duration,
    /// Mutual TLS to the collector (required for `https://`).
    pub tls: Option<UplinkTls>,
    /// Reconnect after a failure (with a durable spool); `None` returns the first failure.
    pub reconnect: Option<Reconnect>,
    /// Capabilities announced in `Hello` beside [`CAPABILITIES`].
    pub capabilities: Vec<String>,
}

/// Reconnection policy: exponential backoff from [`RECONNECT_INITIAL_DELAY`], capped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reconnect {
    pub max_delay: Duration,
}

/// PEM material for mutual TLS: the collector's CA, and this agent's certificate and key
/// (read on every new connection, so a renewed certificate is used without a restart).
#[derive(Clone)]
pub struct UplinkTls {
    pub ca_pem: Vec<u8>,
    pub identity: Option<ClientIdentity>,
}

impl std::fmt::Debug for UplinkTls {
    // Never print the private key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UplinkTls")
            .field("client_certificate", &self.identity.is_some())
            .finish_non_exhaustive()
    }
}

/// What `ScanBegin` announces.
#[derive(Debug, Clone)]
pub struct ScanStart {
    pub scan_id: String,
    pub started_at_ms: i64,
    pub accounts: Vec<String>,
    /// Every provider the scan covers, in scan order.
    pub providers: Vec<String>,
}

impl ScanStart {
    pub fn begin(&self) -> ScanBegin {
        ScanBegin {
            scan_id: self.scan_id.clone(),
            started_at_ms: self.started_at_ms,
            accounts: self.accounts.clone(),
            // A collector from before multi-cloud scans reads only `provider`: the first.
            provider: self.providers.first().cloned().unwrap_or_default(),
            providers: self.providers.clone(),
        }
    }
}

/// What was delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UplinkReport {
    pub batches: u64,
    pub facts: u64,
    /// Acks that said the batch had been committed before.
    pub duplicates: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UplinkError {
    #[error("invalid collector url {url}: {source}")]
    Url {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("cannot connect to collector {url}: {source}")]
    Connect {
        url: String,
        source: tonic::transport::Error,
    },
    #[error("collector {url} did not answer within {seconds}s while {waiting}")]
    Timeout {
        url: String,
        seconds: u64,
        waiting: &'static str,
    },
    #[error("collector refused the stream: {0}")]
    Status(#[from] tonic::Status),
    #[error("collector rejected scan {scan_id} (seq {seq}): {code}: {reason}")]
    Rejected {
        scan_id: String,
        seq: u64,
        code: String,
        reason: String,
    },
    #[error("collector closed the stream before acknowledging the end of the scan")]
    Closed,
    #[error("the scan ended without coverage (it failed); the collector keeps it open")]
    ScanAborted,
    #[error(transparent)]
    Spool(#[from] SpoolError),
}

impl UplinkError {
    /// Worth another connection: the collector may be back, or less busy, later.
    fn is_transient(&self) -> bool {
        match self {
            UplinkError::Connect { .. }
            | UplinkError::Timeout { .. }
            | UplinkError::Status(_)
            | UplinkError::Closed => true,
            UplinkError::Rejected { code, .. } => {
                code == RejectCode::RateLimited.as_str_name()
                    || code == RejectCode::Internal.as_str_name()
            }
            UplinkError::Url { .. } | UplinkError::ScanAborted | UplinkError::Spool(_) => false,
        }
    }
}

/// Streams `facts` as one scan through a memory spool, without reconnecting: waits for
/// `coverage` once the facts end, then sends `ScanEnd` and waits for its acknowledgement.
pub async fn stream_scan(
    config: &UplinkConfig,
    start: ScanStart,
    facts: FactReceiver,
    coverage: oneshot::Receiver<Vec<AccountCoverage>>,
) -> Result<UplinkReport, UplinkError> {
    let spool = Arc::new(Spool::memory(crate::spool::DEFAULT_MAX_BYTES));
    spool.begin(&start.begin())?;
    let scan_id = start.scan_id.clone();
    let config = UplinkConfig {
        reconnect: None,
        ..config.clone()
    };
    let (produced, delivered) = tokio::try_join!(
        spool_scan(&spool, &start, facts, coverage),
        deliver(&config, &spool, Until::Delivered(scan_id), None),
    )?;
    Ok(UplinkReport {
        batches: produced.batches,
        facts: produced.facts,
        duplicates: delivered.duplicates,
    })
}

/// What [`spool_scan`] spooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Produced {
    pub batches: u64,
    pub facts: u64,
    /// False when the scan failed (no coverage): it was ended as incomplete.
    pub covered: bool,
}

/// Batches a scan's facts into the spool (its `ScanBegin` is spooled already), then its
/// `ScanEnd`. A scan that fails (its coverage never comes) is ended as incomplete for every
/// account, so what it observed is still delivered and the collector marks nothing gone.
pub async fn spool_scan(
    spool: &Spool,
    start: &ScanStart,
    mut facts: FactReceiver,
    coverage: oneshot::Receiver<Vec<AccountCoverage>>,
) -> Result<Produced, UplinkError> {
    let mut buffer: Vec<Fact> = Vec::with_capacity(FACTS_PER_BATCH);
    let mut next_seq = 1;
    let mut total = 0u64;
    let mut linger_until: Option<Instant> = None;
    loop {
        let flush = tokio::select! {
            fact = facts.recv() => match fact {
                Some(fact) => {
                    if buffer.is_empty() {
                        linger_until = Some(Instant::now() + BATCH_LINGER);
                    }
                    buffer.push(fact);
                    buffer.len() >= FACTS_PER_BATCH
                }
                None => break,
            },
            () = sleep_until_opt(linger_until) => true,
        };
        if flush && !buffer.is_empty() {
            total += buffer.len() as u64;
            push(spool, &start.scan_id, next_seq, std::mem::take(&mut buffer)).await?;
            next_seq += 1;
            linger_until = None;
        }
    }
    if !buffer.is_empty() {
        total += buffer.len() as u64;
        push(spool, &start.scan_id, next_seq, buffer).await?;
        next_seq += 1;
    }
    let batches = next_seq - 1;
    let (coverage, covered) = match coverage.await {
        Ok(coverage) => (coverage, true),
        Err(_) => (
            crate::spool::incomplete_coverage(&start.accounts, "the scan failed before it ended"),
            false,
        ),
    };
    spool.end(&ScanEnd {
        scan_id: start.scan_id.clone(),
        ended_at_ms: crate::now_ms(),
        batches,
        coverage,
    })?;
    tracing::debug!(scan_id = %start.scan_id, batches, "scan spooled to its end");
    Ok(Produced {
        batches,
        facts: total,
        covered,
    })
}

async fn push(spool: &Spool, scan_id: &str, seq: u64, facts: Vec<Fact>) -> Result<(), UplinkError> {
    let n = facts.len() as u64;
    spool
        .push_batch(&FactsBatch {
            scan_id: scan_id.to_owned(),
            seq,
            facts,
        })
        .await?;
    METRICS.facts_spooled.add(n);
    Ok(())
}

/// How long [`deliver`] runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Until {
    /// Until this scan (and every scan spooled before it) is closed at the collector.
    Delivered(String),
    /// For ever (the service): the stream stays open between scans for `ScanRequest`s.
    Forever,
}

/// What [`deliver`] saw acknowledged.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    pub batches: u64,
    pub duplicates: u64,
    pub scans: u64,
}

/// Delivers the spool to the collector (see the module docs), reconnecting when
/// `config.reconnect` says so. `requests` receives the collector's `ScanRequest`s.
pub async fn deliver(
    config: &UplinkConfig,
    spool: &Spool,
    until: Until,
    requests: Option<mpsc::Sender<ScanRequest>>,
) -> Result<Delivered, UplinkError> {
    let urls: Vec<&str> = std::iter::once(config.url.as_str())
        .chain(config.other_urls.iter().map(String::as_str))
        .collect();
    let mut at = 0;
    // Connection failures in a row: without reconnection, each URL is tried once.
    let mut unreachable = 0;
    let mut report = Delivered::default();
    let mut delay = RECONNECT_INITIAL_DELAY;
    loop {
        let before = report;
        let url = urls[at];
        match session(config, url, spool, &until, requests.as_ref(), &mut report).await {
            Ok(()) => return Ok(report),
            Err(err) => {
                if let UplinkError::Rejected { scan_id, .. } = &err
                    && !err.is_transient()
                {
                    tracing::error!(error = %err, %scan_id, "collector refused the scan for good; it is set aside in the spool");
                    spool.reject(scan_id)?;
                    if until == Until::Delivered(scan_id.clone()) || config.reconnect.is_none() {
                        return Err(err);
                    }
                    continue;
                }
                if matches!(err, UplinkError::Connect { .. }) {
                    unreachable += 1;
                    at = (at + 1) % urls.len();
                    if urls.len() > 1 {
                        tracing::warn!(error = %err, next = urls[at], "collector unreachable; trying the next");
                    }
                    if config.reconnect.is_none() && unreachable < urls.len() {
                        continue;
                    }
                } else {
                    unreachable = 0;
                }
                let Some(reconnect) = config.reconnect.filter(|_| err.is_transient()) else {
                    return Err(err);
                };
                if report != before {
                    delay = RECONNECT_INITIAL_DELAY;
                }
                METRICS.reconnects.add(1);
                let (batches, bytes) = spool.depth();
                tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, spool_batches = batches, spool_bytes = bytes, "collector unavailable; the spool keeps everything, reconnecting");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(reconnect.max_delay.max(RECONNECT_INITIAL_DELAY));
            }
        }
    }
}

async fn connect(
    config: &UplinkConfig,
    url: &str,
) -> Result<IngestServiceClient<tonic::transport::Channel>, UplinkError> {
    let endpoint = tonic::transport::Endpoint::from_shared(url.to_owned())
        .map_err(|source| UplinkError::Url {
            url: url.to_owned(),
            source,
        })?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true);
    let endpoint = match &config.tls {
        None => endpoint,
        Some(tls) => {
            let mut client_tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&tls.ca_pem));
            if let Some(identity) = &tls.identity {
                let pem = identity.get();
                client_tls =
                    client_tls.identity(tonic::transport::Identity::from_pem(&pem.0, &pem.1));
            }
            endpoint
                .tls_config(client_tls)
                .map_err(|source| UplinkError::Url {
                    url: url.to_owned(),
                    source,
                })?
        }
    };
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| UplinkError::Connect {
            url: url.to_owned(),
            source,
        })?;
    Ok(IngestServiceClient::new(channel)
        .max_decoding_message_size(landmeter_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(landmeter_proto::MAX_MESSAGE_BYTES))
}

/// How long the collector may take to close the stream after acknowledging the scan end.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// The scan being delivered on the current stream.
struct Current {
    scan_id: String,
    /// Batches below this were sent on this stream.
    next_seq: u64,
    unacked: BTreeSet<u64>,
    end_sent: bool,
}

/// What the main loop is waiting for from the collector, for the timeout message.
fn waiting_for(end_sent: bool) -> &'static str {
    if end_sent {
        "waiting for the ScanEnd ack"
    } else {
        "waiting for batch acks"
    }
}

/// One stream: `Ok` when `until` is reached, `Err` when the stream failed.
async fn session(
    config: &UplinkConfig,
    url: &str,
    spool: &Spool,
    until: &Until,
    requests: Option<&mpsc::Sender<ScanRequest>>,
    report: &mut Delivered,
) -> Result<(), UplinkError> {
    let done = |spool: &Spool| matches!(until, Until::Delivered(id) if !spool.contains(id));
    if done(spool) {
        return Ok(());
    }
    let mut client = connect(config, url).await?;
    let (out_tx, out_rx) = mpsc::channel::<AgentMessage>(MAX_UNACKED_BATCHES + 4);
    let send = |msg: agent_message::Msg| {
        let out_tx = out_tx.clone();
        async move {
            out_tx
                .send(AgentMessage { msg: Some(msg) })
                .await
                .map_err(|_| UplinkError::Closed)
        }
    };
    send(agent_message::Msg::Hello(Hello {
        agent_version: crate::AGENT_VERSION.to_owned(),
        agent_name: config.agent_name.clone(),
        capabilities: CAPABILITIES
            .iter()
            .map(|c| (*c).to_owned())
            .chain(config.capabilities.iter().cloned())
            .collect(),
    }))
    .await?;
    let timeout = |waiting| UplinkError::Timeout {
        url: url.to_owned(),
        seconds: config.ack_timeout.as_secs(),
        waiting,
    };
    let response = tokio::time::timeout(
        config.ack_timeout,
        client.stream(ReceiverStream::new(out_rx)),
    )
    .await
    .map_err(|_| timeout("opening the stream"))??;
    let mut inbound = response.into_inner();
    tracing::debug!(url, "stream to collector open");

    let mut version = spool.watch();
    let mut current: Option<Current> = None;
    let mut answer_by = Instant::now() + config.ack_timeout;
    loop {
        version.borrow_and_update();
        if done(spool) {
            break;
        }
        if current.is_none()
            && let Some(first) = spool.first()
        {
            tracing::info!(url, scan_id = %first.begin.scan_id, accounts = first.begin.accounts.len(), pending_batches = first.pending.len(), "streaming scan to collector");
            current = Some(Current {
                scan_id: first.begin.scan_id.clone(),
                next_seq: 1,
                unacked: BTreeSet::new(),
                end_sent: false,
            });
            send(agent_message::Msg::ScanBegin(first.begin)).await?;
        }
        if let Some(cur) = &mut current
            && let Some(view) = spool.view(&cur.scan_id)
        {
            let first_unsent = cur.next_seq;
            for seq in view.pending.iter().copied().filter(|s| *s >= first_unsent) {
                if cur.unacked.len() >= MAX_UNACKED_BATCHES {
                    break;
                }
                if cur.unacked.is_empty() {
                    answer_by = Instant::now() + config.ack_timeout;
                }
                let batch = spool.read_batch(&cur.scan_id, seq)?;
                tracing::trace!(seq, facts = batch.facts.len(), "sending batch");
                cur.unacked.insert(seq);
                cur.next_seq = seq + 1;
                send(agent_message::Msg::FactsBatch(batch)).await?;
            }
            if let Some(end) = view.end
                && !cur.end_sent
                && cur.unacked.is_empty()
                && view.pending.is_empty()
            {
                let batches = end.batches;
                send(agent_message::Msg::ScanEnd(end)).await?;
                cur.end_sent = true;
                answer_by = Instant::now() + config.ack_timeout;
                tracing::debug!(scan_id = %cur.scan_id, batches, "scan end sent");
            }
        }
        let (awaiting_answer, end_sent) = match &current {
            Some(cur) => (cur.end_sent || !cur.unacked.is_empty(), cur.end_sent),
            None => (false, false),
        };
        tokio::select! {
            biased;
            message = inbound.message() => {
                answer_by = Instant::now() + config.ack_timeout;
                let Some(message) = message? else {
                    return Err(UplinkError::Closed);
                };
                handle(message, spool, &mut current, requests, report)?;
            }
            _ = version.changed() => {}
            () = tokio::time::sleep_until(answer_by), if awaiting_answer => {
                return Err(timeout(waiting_for(end_sent)));
            }
        }
    }
    // Close our half of the stream, then let the collector close its half, so neither side
    // sees a reset. Anything it still sends is of no consequence now.
    drop(out_tx);
    let drain = async { while let Ok(Some(_)) = inbound.message().await {} };
    if tokio::time::timeout(CLOSE_GRACE, drain).await.is_err() {
        tracing::debug!("collector kept the stream open after the scan end; closing it");
    }
    Ok(())
}

/// Handles one collector message.
fn handle(
    message: CollectorMessage,
    spool: &Spool,
    current: &mut Option<Current>,
    requests: Option<&mpsc::Sender<ScanRequest>>,
    report: &mut Delivered,
) -> Result<(), UplinkError> {
    match message.msg {
        Some(collector_message::Msg::Ack(ack)) => {
            if ack.duplicate {
                report.duplicates += 1;
                tracing::debug!(seq = ack.seq, "collector had this already");
            }
            let Some(cur) = current
                .as_mut()
                .filter(|c| c.scan_id == ack.scan_id || ack.scan_id.is_empty())
            else {
                tracing::warn!(scan_id = %ack.scan_id, seq = ack.seq, "ack for a scan not being delivered");
                return Ok(());
            };
            if ack.seq == 0 {
                if cur.end_sent {
                    tracing::info!(scan_id = %cur.scan_id, "collector closed the scan");
                    spool.finish(&cur.scan_id)?;
                    report.scans += 1;
                    *current = None;
                }
                // Otherwise an ack of Hello or ScanBegin, if the collector sends them.
                return Ok(());
            }
            if !cur.unacked.remove(&ack.seq) {
                tracing::warn!(seq = ack.seq, "ack for a batch that is not outstanding");
            }
            if let Some(facts) = spool.ack_batch(&cur.scan_id, ack.seq)? {
                report.batches += 1;
                METRICS.facts_acked.add(facts);
                METRICS.batches_acked.add(1);
            }
            Ok(())
        }
        Some(collector_message::Msg::Reject(reject)) => Err(UplinkError::Rejected {
            scan_id: if reject.scan_id.is_empty() {
                current
                    .as_ref()
                    .map(|c| c.scan_id.clone())
                    .unwrap_or_default()
            } else {
                reject.scan_id
            },
            seq: reject.seq,
            code: RejectCode::try_from(reject.code)
                .map(|c| c.as_str_name().to_owned())
                .unwrap_or_else(|_| format!("code {}", reject.code)),
            reason: reject.reason,
        }),
        Some(collector_message::Msg::ScanRequest(request)) => {
            tracing::info!(reason = %request.reason, "collector requested a scan");
            match requests {
                // Full: a request is pending already; one is enough.
                Some(tx) => {
                    let _ = tx.try_send(request);
                }
                None => {
                    tracing::info!("this agent scans once and exits; the request is not queued")
                }
            }
            Ok(())
        }
        None => {
            tracing::warn!("empty message from collector");
            Ok(())
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests;
