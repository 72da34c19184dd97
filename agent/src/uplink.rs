//! Streams one scan to the collector over `IngestService.Stream`.
//!
//! Protocol, agent side: `Hello`, `ScanBegin`, then `FactsBatch` messages numbered 1, 2, 3, ...
//! with at most [`FACTS_PER_BATCH`] facts each and at most [`MAX_UNACKED_BATCHES`] waiting
//! for their `Ack`. When the scan has ended and every batch is acknowledged, `ScanEnd` carries
//! the batch count and the coverage; the collector's `Ack` with seq 0 that follows closes the
//! scan. A `Reject` ends it with an error. A batch is flushed when full, when the scan ends,
//! or [`BATCH_LINGER`] after its first fact, so a slow scan still streams.
//!
//! The collector must answer within the configured ack timeout whenever the agent waits for
//! it; otherwise the scan fails with [`UplinkError::Timeout`].

use std::collections::BTreeSet;
use std::time::Duration;

use landmeter_proto::v1::ingest_service_client::IngestServiceClient;
use landmeter_proto::v1::{
    AccountCoverage, AgentMessage, CollectorMessage, Fact, FactsBatch, Hello, RejectCode,
    ScanBegin, ScanEnd, agent_message, collector_message,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use crate::sink::FactReceiver;

/// Facts per `FactsBatch` (the collector accepts up to `landmeter_proto::MAX_FACTS_PER_BATCH`).
pub const FACTS_PER_BATCH: usize = 500;
/// Batches sent but not yet acknowledged, at most.
pub const MAX_UNACKED_BATCHES: usize = 16;
/// How long a partial batch waits for more facts before it is sent.
pub const BATCH_LINGER: Duration = Duration::from_secs(1);
/// Capabilities announced in `Hello`.
pub const CAPABILITIES: &[&str] = &["facts.v1", "provider.aws"];

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
    pub provider: String,
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
}

/// Streams `facts` as one scan; waits for `coverage` once the facts end, then sends
/// `ScanEnd` and waits for its acknowledgement.
pub async fn stream_scan(
    config: &UplinkConfig,
    start: ScanStart,
    facts: FactReceiver,
    coverage: oneshot::Receiver<Vec<AccountCoverage>>,
) -> Result<UplinkReport, UplinkError> {
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
    let mut client = IngestServiceClient::new(channel)
        .max_decoding_message_size(landmeter_proto::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(landmeter_proto::MAX_MESSAGE_BYTES);

    let (out_tx, out_rx) = mpsc::channel::<AgentMessage>(MAX_UNACKED_BATCHES + 4);
    let hello = agent_message::Msg::Hello(Hello {
        agent_version: crate::AGENT_VERSION.to_owned(),
        agent_name: config.agent_name.clone(),
        capabilities: CAPABILITIES.iter().map(|c| (*c).to_owned()).collect(),
    });
    let begin = agent_message::Msg::ScanBegin(ScanBegin {
        scan_id: start.scan_id.clone(),
        started_at_ms: start.started_at_ms,
        accounts: start.accounts.clone(),
        provider: start.provider.clone(),
    });
    for msg in [hello, begin] {
        // The channel has room for both; the receiver lives in `out_rx` until the call below.
        out_tx
            .send(AgentMessage { msg: Some(msg) })
            .await
            .map_err(|_| UplinkError::Closed)?;
    }
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
    tracing::info!(url = %config.url, scan_id = %start.scan_id, accounts = start.accounts.len(), "streaming scan to collector");

    let mut session = Session {
        scan_id: start.scan_id,
        out: out_tx,
        next_seq: 1,
        unacked: BTreeSet::new(),
        buffer: Vec::with_capacity(FACTS_PER_BATCH),
        facts_sent: 0,
        duplicates: 0,
    };
    let mut inbound = response.into_inner();
    let report = session
        .run(&mut inbound, facts, coverage, config.ack_timeout, &timeout)
        .await?;
    // Close our half of the stream, then let the collector close its half, so neither side
    // sees a reset. Anything it still sends is of no consequence now.
    drop(session);
    let drain = async { while let Ok(Some(_)) = inbound.message().await {} };
    if tokio::time::timeout(CLOSE_GRACE, drain).await.is_err() {
        tracing::debug!("collector kept the stream open after the scan end; closing it");
    }
    Ok(report)
}

/// How long the collector may take to close the stream after acknowledging the scan end.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

struct Session {
    scan_id: String,
    out: mpsc::Sender<AgentMessage>,
    next_seq: u64,
    unacked: BTreeSet<u64>,
    buffer: Vec<Fact>,
    facts_sent: u64,
    duplicates: u64,
}

/// What the main loop is waiting for from the collector, for the timeout message.
fn waiting_for(end_sent: bool) -> &'static str {
    if end_sent {
        "waiting for the ScanEnd ack"
    } else {
        "waiting for batch acks"
    }
}

impl Session {
    async fn run(
        &mut self,
        inbound: &mut tonic::Streaming<CollectorMessage>,
        mut facts: FactReceiver,
        coverage: oneshot::Receiver<Vec<AccountCoverage>>,
        ack_timeout: Duration,
        timeout: &dyn Fn(&'static str) -> UplinkError,
    ) -> Result<UplinkReport, UplinkError> {
        let mut coverage = Some(coverage);
        let mut facts_done = false;
        let mut end_sent = false;
        // Deadline for the collector's next answer while we wait on it.
        let mut answer_by = Instant::now() + ack_timeout;
        // When the current partial batch must go out.
        let mut linger_until: Option<Instant> = None;

        loop {
            // Send whatever may go out now.
            while self.unacked.len() < MAX_UNACKED_BATCHES
                && !self.buffer.is_empty()
                && (self.buffer.len() >= FACTS_PER_BATCH
                    || facts_done
                    || linger_until.is_some_and(|t| t <= Instant::now()))
            {
                if self.unacked.is_empty() {
                    answer_by = Instant::now() + ack_timeout;
                }
                self.send_batch().await?;
                linger_until = (!self.buffer.is_empty()).then(|| Instant::now() + BATCH_LINGER);
            }
            if facts_done && self.buffer.is_empty() && self.unacked.is_empty() && !end_sent {
                let Some(coverage_rx) = coverage.take() else {
                    return Err(UplinkError::ScanAborted);
                };
                let coverage = coverage_rx.await.map_err(|_| UplinkError::ScanAborted)?;
                self.send(agent_message::Msg::ScanEnd(ScanEnd {
                    scan_id: self.scan_id.clone(),
                    ended_at_ms: crate::now_ms(),
                    batches: self.next_seq - 1,
                    coverage,
                }))
                .await?;
                end_sent = true;
                answer_by = Instant::now() + ack_timeout;
                tracing::debug!(scan_id = %self.scan_id, batches = self.next_seq - 1, "scan end sent");
            }
            let awaiting_answer = end_sent || !self.unacked.is_empty();
            let can_take_facts = !facts_done && self.buffer.len() < FACTS_PER_BATCH;
            let can_flush_on_linger =
                !self.buffer.is_empty() && self.unacked.len() < MAX_UNACKED_BATCHES;

            tokio::select! {
                biased;
                message = inbound.message() => {
                    answer_by = Instant::now() + ack_timeout;
                    match message? {
                        Some(message) => {
                            if self.handle(message, end_sent)? {
                                return Ok(UplinkReport {
                                    batches: self.next_seq - 1,
                                    facts: self.facts_sent,
                                    duplicates: self.duplicates,
                                });
                            }
                        }
                        None => return Err(UplinkError::Closed),
                    }
                }
                fact = facts.recv(), if can_take_facts => match fact {
                    Some(fact) => {
                        if self.buffer.is_empty() {
                            linger_until = Some(Instant::now() + BATCH_LINGER);
                        }
                        self.buffer.push(fact);
                    }
                    None => facts_done = true,
                },
                () = sleep_until_opt(linger_until), if can_flush_on_linger => {
                    // The send loop at the top flushes the lingering batch.
                }
                () = tokio::time::sleep_until(answer_by), if awaiting_answer => {
                    return Err(timeout(waiting_for(end_sent)));
                }
            }
        }
    }

    /// Handles one collector message; `Ok(true)` when the scan is closed.
    fn handle(&mut self, message: CollectorMessage, end_sent: bool) -> Result<bool, UplinkError> {
        match message.msg {
            Some(collector_message::Msg::Ack(ack)) => {
                if ack.duplicate {
                    self.duplicates += 1;
                    tracing::debug!(seq = ack.seq, "collector had this batch already");
                }
                if ack.seq == 0 {
                    if end_sent {
                        tracing::debug!(scan_id = %self.scan_id, "scan end acknowledged");
                        return Ok(true);
                    }
                    // Acks of Hello or ScanBegin, if the collector sends them.
                    return Ok(false);
                }
                if !self.unacked.remove(&ack.seq) {
                    tracing::warn!(seq = ack.seq, "ack for a batch that is not outstanding");
                }
                Ok(false)
            }
            Some(collector_message::Msg::Reject(reject)) => Err(UplinkError::Rejected {
                scan_id: if reject.scan_id.is_empty() {
                    self.scan_id.clone()
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
                tracing::info!(reason = %request.reason, "collector requested a scan; one is running");
                Ok(false)
            }
            None => {
                tracing::warn!("empty message from collector");
                Ok(false)
            }
        }
    }

    async fn send_batch(&mut self) -> Result<(), UplinkError> {
        let take = self.buffer.len().min(FACTS_PER_BATCH);
        let facts: Vec<Fact> = self.buffer.drain(..take).collect();
        let seq = self.next_seq;
        self.next_seq += 1;
        self.facts_sent += facts.len() as u64;
        self.unacked.insert(seq);
        tracing::trace!(seq, facts = facts.len(), "sending batch");
        self.send(agent_message::Msg::FactsBatch(FactsBatch {
            scan_id: self.scan_id.clone(),
            seq,
            facts,
        }))
        .await
    }

    async fn send(&self, msg: agent_message::Msg) -> Result<(), UplinkError> {
        self.out
            .send(AgentMessage { msg: Some(msg) })
            .await
            .map_err(|_| UplinkError::Closed)
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
    }

    /// A collector speaking the real gRPC API, recording what it saw.
    #[derive(Clone)]
    struct FakeCollector {
        seen: mpsc::UnboundedSender<AgentMessage>,
        mode: Mode,
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
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(async move {
                while let Some(Ok(message)) = inbound.next().await {
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
        }
    }

    fn start() -> ScanStart {
        ScanStart {
            scan_id: "scan-1".to_owned(),
            started_at_ms: 1,
            accounts: vec!["111111111111".to_owned()],
            provider: "aws".to_owned(),
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
                Some(agent_message::Msg::Hello(h)) => format!("hello {}", h.agent_name),
                Some(agent_message::Msg::ScanBegin(b)) => format!("begin {}", b.scan_id),
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
                "hello test-agent",
                "begin scan-1",
                "batch 1 500",
                "batch 2 500",
                "batch 3 201",
                "end 3 1"
            ]
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
