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

/// PEM material for mutual TLS: the collector's CA, and this agent's certificate and key.
#[derive(Clone)]
pub struct UplinkTls {
    pub ca_pem: Vec<u8>,
    pub identity: Option<(Vec<u8>, Vec<u8>)>,
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
    let mut report = Delivered::default();
    let mut delay = RECONNECT_INITIAL_DELAY;
    loop {
        let before = report;
        match session(config, spool, &until, requests.as_ref(), &mut report).await {
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
) -> Result<IngestServiceClient<tonic::transport::Channel>, UplinkError> {
    let endpoint = tonic::transport::Endpoint::from_shared(config.url.clone())
        .map_err(|source| UplinkError::Url {
            url: config.url.clone(),
            source,
        })?
        .connect_timeout(config.connect_timeout)
        .tcp_nodelay(true);
    let endpoint = match &config.tls {
        None => endpoint,
        Some(tls) => {
            let mut client_tls = tonic::transport::ClientTlsConfig::new()
                .ca_certificate(tonic::transport::Certificate::from_pem(&tls.ca_pem));
            if let Some((cert, key)) = &tls.identity {
                client_tls = client_tls.identity(tonic::transport::Identity::from_pem(cert, key));
            }
            endpoint
                .tls_config(client_tls)
                .map_err(|source| UplinkError::Url {
                    url: config.url.clone(),
                    source,
                })?
        }
    };
    let channel = endpoint
        .connect()
        .await
        .map_err(|source| UplinkError::Connect {
            url: config.url.clone(),
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
    spool: &Spool,
    until: &Until,
    requests: Option<&mpsc::Sender<ScanRequest>>,
    report: &mut Delivered,
) -> Result<(), UplinkError> {
    let done = |spool: &Spool| matches!(until, Until::Delivered(id) if !spool.contains(id));
    if done(spool) {
        return Ok(());
    }
    let mut client = connect(config).await?;
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
        url: config.url.clone(),
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
    tracing::debug!(url = %config.url, "stream to collector open");

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
            tracing::info!(url = %config.url, scan_id = %first.begin.scan_id, accounts = first.begin.accounts.len(), pending_batches = first.pending.len(), "streaming scan to collector");
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
mod tests {
    use super::*;
    use landmeter_proto::v1::ingest_service_server::{IngestService, IngestServiceServer};
    use landmeter_proto::v1::{Ack, Reject};
    use std::pin::Pin;
    use tokio_stream::{Stream, StreamExt};

    /// How the fake collector answers batches.
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Mode {
        /// Acks every batch (the first twice, once as a duplicate) and the scan end.
        Ack,
        /// Rejects the first batch.
        Reject,
        /// Never answers.
        Silent,
        /// Acks like `Ack`, but the first stream ends (as a killed collector's would) on
        /// receiving batch 2, before acknowledging it.
        DropOnce,
    }

    /// A collector speaking the real gRPC API, recording what it saw.
    #[derive(Clone)]
    struct FakeCollector {
        seen: mpsc::UnboundedSender<AgentMessage>,
        mode: Mode,
        dropped: Arc<std::sync::atomic::AtomicBool>,
    }

    type Out = Pin<Box<dyn Stream<Item = Result<CollectorMessage, tonic::Status>> + Send>>;

    #[tonic::async_trait]
    impl IngestService for FakeCollector {
        type StreamStream = Out;

        async fn stream(
            &self,
            request: tonic::Request<tonic::Streaming<AgentMessage>>,
        ) -> Result<tonic::Response<Out>, tonic::Status> {
            let mut inbound = request.into_inner();
            let seen = self.seen.clone();
            let mode = self.mode;
            let dropped = Arc::clone(&self.dropped);
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(async move {
                while let Some(Ok(message)) = inbound.next().await {
                    if mode == Mode::DropOnce
                        && matches!(&message.msg, Some(agent_message::Msg::FactsBatch(b)) if b.seq == 2)
                        && !dropped.swap(true, std::sync::atomic::Ordering::SeqCst)
                    {
                        let _ = seen.send(message);
                        let _ = tx
                            .send(Err(tonic::Status::unavailable("collector killed")))
                            .await;
                        return;
                    }
                    let reply = match &message.msg {
                        _ if mode == Mode::Silent => {
                            let _ = seen.send(message);
                            continue;
                        }
                        Some(agent_message::Msg::FactsBatch(b)) if mode == Mode::Reject => {
                            collector_message::Msg::Reject(Reject {
                                code: RejectCode::InvalidFact as i32,
                                reason: "bad fact".to_owned(),
                                scan_id: b.scan_id.clone(),
                                seq: b.seq,
                            })
                        }
                        Some(agent_message::Msg::FactsBatch(b)) => {
                            collector_message::Msg::Ack(Ack {
                                scan_id: b.scan_id.clone(),
                                seq: b.seq,
                                duplicate: false,
                            })
                        }
                        Some(agent_message::Msg::ScanEnd(e)) => collector_message::Msg::Ack(Ack {
                            scan_id: e.scan_id.clone(),
                            seq: 0,
                            duplicate: false,
                        }),
                        _ => {
                            let _ = seen.send(message);
                            continue;
                        }
                    };
                    let _ = seen.send(message);
                    if let collector_message::Msg::Ack(ack) = &reply
                        && ack.seq == 1
                    {
                        let duplicate = collector_message::Msg::Ack(Ack {
                            duplicate: true,
                            ..ack.clone()
                        });
                        let _ = tx
                            .send(Ok(CollectorMessage {
                                msg: Some(duplicate),
                            }))
                            .await;
                    }
                    if tx
                        .send(Ok(CollectorMessage { msg: Some(reply) }))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            });
            Ok(tonic::Response::new(Box::pin(
                tokio_stream::wrappers::ReceiverStream::new(rx),
            )))
        }
    }

    async fn serve(mode: Mode) -> (String, mpsc::UnboundedReceiver<AgentMessage>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (seen_tx, seen_rx) = mpsc::unbounded_channel();
        let service = IngestServiceServer::new(FakeCollector {
            seen: seen_tx,
            mode,
            dropped: Arc::default(),
        });
        tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
        );
        (format!("http://{addr}"), seen_rx)
    }

    fn config(url: String) -> UplinkConfig {
        UplinkConfig {
            url,
            agent_name: "test-agent".to_owned(),
            connect_timeout: Duration::from_secs(5),
            ack_timeout: Duration::from_secs(10),
            tls: None,
            reconnect: None,
            capabilities: vec!["provider.test".to_owned()],
        }
    }

    fn start() -> ScanStart {
        ScanStart {
            scan_id: "scan-1".to_owned(),
            started_at_ms: 1,
            accounts: vec!["111111111111".to_owned()],
            providers: vec!["cloud-a".to_owned(), "cloud-b".to_owned()],
        }
    }

    #[tokio::test]
    async fn streams_batches_and_closes_the_scan() {
        let (url, mut seen) = serve(Mode::Ack).await;
        let (tx, rx) = mpsc::channel(16);
        let (cov_tx, cov_rx) = oneshot::channel();
        let producer = async move {
            for i in 0..1_201 {
                let fact = Fact {
                    subject: format!("bucket-{i}"),
                    ..Fact::default()
                };
                tx.send(fact).await.expect("uplink alive");
            }
            drop(tx);
            cov_tx
                .send(vec![AccountCoverage {
                    account: "111111111111".to_owned(),
                    complete: true,
                    stores_seen: 1_201,
                    gaps: 0,
                    reason: String::new(),
                }])
                .expect("uplink waits");
        };
        let cfg = config(url);
        let (report, ()) = tokio::join!(stream_scan(&cfg, start(), rx, cov_rx), producer);
        let report = report.expect("scan delivered");
        assert_eq!(
            report,
            UplinkReport {
                batches: 3,
                facts: 1_201,
                duplicates: 1
            }
        );

        let mut kinds = Vec::new();
        while let Ok(message) = seen.try_recv() {
            kinds.push(match message.msg {
                Some(agent_message::Msg::Hello(h)) => {
                    format!("hello {} {}", h.agent_name, h.capabilities.join(","))
                }
                // Every provider, and the first alone for collectors before multi-cloud scans.
                Some(agent_message::Msg::ScanBegin(b)) => {
                    format!(
                        "begin {} {} {}",
                        b.scan_id,
                        b.provider,
                        b.providers.join(",")
                    )
                }
                Some(agent_message::Msg::FactsBatch(b)) => {
                    format!("batch {} {}", b.seq, b.facts.len())
                }
                Some(agent_message::Msg::ScanEnd(e)) => {
                    format!("end {} {}", e.batches, e.coverage.len())
                }
                None => "none".to_owned(),
            });
        }
        assert_eq!(
            kinds,
            vec![
                "hello test-agent facts.v1,spool.v1,provider.test",
                "begin scan-1 cloud-a cloud-a,cloud-b",
                "batch 1 500",
                "batch 2 500",
                "batch 3 201",
                "end 3 1"
            ]
        );
    }

    #[tokio::test]
    async fn a_broken_stream_reconnects_and_resends_what_was_not_acked() {
        let (url, mut seen) = serve(Mode::DropOnce).await;
        let spool = Spool::memory(crate::spool::DEFAULT_MAX_BYTES);
        spool.begin(&start().begin()).expect("begin");
        for seq in 1..=3 {
            spool
                .push_batch(&FactsBatch {
                    scan_id: "scan-1".to_owned(),
                    seq,
                    facts: vec![Fact::default(); 10],
                })
                .await
                .expect("spooled");
        }
        spool
            .end(&ScanEnd {
                scan_id: "scan-1".to_owned(),
                batches: 3,
                ..ScanEnd::default()
            })
            .expect("ended");
        let cfg = UplinkConfig {
            reconnect: Some(Reconnect {
                max_delay: Duration::from_millis(500),
            }),
            ..config(url)
        };
        let delivered = deliver(&cfg, &spool, Until::Delivered("scan-1".to_owned()), None)
            .await
            .expect("delivered after a reconnect");
        assert_eq!(delivered.scans, 1);
        assert!(!spool.contains("scan-1"));
        let mut kinds = Vec::new();
        while let Ok(message) = seen.try_recv() {
            kinds.push(match message.msg {
                Some(agent_message::Msg::Hello(_)) => "hello".to_owned(),
                Some(agent_message::Msg::ScanBegin(_)) => "begin".to_owned(),
                Some(agent_message::Msg::FactsBatch(b)) => format!("batch {}", b.seq),
                Some(agent_message::Msg::ScanEnd(_)) => "end".to_owned(),
                None => "none".to_owned(),
            });
        }
        // Batch 1 was acked before the stream broke; 2 and 3 are resent after a new Hello.
        let second_hello = kinds.iter().rposition(|k| k == "hello").expect("hellos");
        assert!(second_hello > 0, "{kinds:?}");
        assert_eq!(
            &kinds[second_hello..],
            ["hello", "begin", "batch 2", "batch 3", "end"],
            "{kinds:?}"
        );
        assert!(
            kinds[..second_hello].contains(&"batch 2".to_owned()),
            "{kinds:?}"
        );
    }

    #[tokio::test]
    async fn a_reject_ends_the_scan_with_its_code() {
        let (url, _seen) = serve(Mode::Reject).await;
        let (tx, rx) = mpsc::channel(16);
        let (_cov_tx, cov_rx) = oneshot::channel();
        tx.send(Fact::default()).await.expect("buffered");
        drop(tx);
        let err = stream_scan(&config(url), start(), rx, cov_rx)
            .await
            .expect_err("rejected");
        let text = err.to_string();
        assert!(
            text.contains("REJECT_CODE_INVALID_FACT") && text.contains("bad fact"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_silent_collector_times_out_clearly() {
        let (url, _seen) = serve(Mode::Silent).await;
        let (tx, rx) = mpsc::channel(16);
        let (_cov_tx, cov_rx) = oneshot::channel();
        tx.send(Fact::default()).await.expect("buffered");
        drop(tx);
        let cfg = UplinkConfig {
            ack_timeout: Duration::from_millis(300),
            ..config(url)
        };
        let err = stream_scan(&cfg, start(), rx, cov_rx)
            .await
            .expect_err("no answer");
        assert!(
            matches!(
                err,
                UplinkError::Timeout {
                    waiting: "waiting for batch acks",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn an_unreachable_collector_is_a_connect_error() {
        // Bind and drop to get a port nobody listens on.
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            listener.local_addr().expect("addr").port()
        };
        let (_tx, rx) = mpsc::channel(1);
        let (_cov_tx, cov_rx) = oneshot::channel();
        let err = stream_scan(
            &config(format!("http://127.0.0.1:{port}")),
            start(),
            rx,
            cov_rx,
        )
        .await
        .expect_err("nothing listens");
        assert!(matches!(err, UplinkError::Connect { .. }), "{err}");
    }
}
