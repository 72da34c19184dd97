//! `IngestService.Stream`: agents' facts in, acknowledgements out.
//!
//! A batch is acknowledged only after its transaction committed. A resent batch is
//! acknowledged again (`duplicate = true`) and not stored twice. Bad input gets a specific
//! `Reject` and changes nothing.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::mpsc;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use landmeter_proto::v1::{
    Ack, AgentMessage, CollectorMessage, FactsBatch, Reject, RejectCode, agent_message,
    collector_message, ingest_service_server::IngestService,
};
use landmeter_proto::{MAX_FACTS_PER_BATCH, v1::ScanEnd};

use crate::agents::ConnectedAgents;
use crate::events::ChangeHub;
use crate::map::Interpreter;
use crate::metrics::Metrics;
use crate::store::{BatchOutcome, MapStore, StoreError};

/// Who is on the other end of a connection: from the client certificate under mutual
/// TLS, or the configured default tenant on an explicitly allowed plaintext listener.
/// The tenant is never taken from a message.
#[derive(Debug, Clone)]
pub struct Peer {
    pub tenant: String,
    /// The agent name the certificate binds (None on plaintext).
    pub agent: Option<String>,
    /// The certificate serial, for revocation (None on plaintext).
    pub serial: Option<String>,
    /// The certificate's notAfter, Unix ms (None on plaintext).
    pub not_after_ms: Option<i64>,
}

/// Ingest settings.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Tenant for plaintext connections; None refuses connections without a certificate.
    pub plaintext_tenant: Option<String>,
    /// Sustained batches per second one agent may send over all its streams (bursts up to
    /// twice that).
    pub max_batches_per_second: u32,
}

pub struct Ingest {
    store: Arc<dyn MapStore>,
    interpreter: Arc<Interpreter>,
    limits: IngestLimits,
    hub: ChangeHub,
    metrics: Arc<Metrics>,
    connected: ConnectedAgents,
    rates: AgentRates,
}

/// One token bucket per agent (tenant and agent name), shared by all its streams: opening
/// more streams does not raise an agent's rate.
#[derive(Clone, Default)]
struct AgentRates(Arc<std::sync::Mutex<std::collections::HashMap<(String, String), RateLimit>>>);

impl AgentRates {
    fn take(&self, tenant: &str, agent: &str, rate: u32, now: std::time::Instant) -> bool {
        let Ok(mut buckets) = self.0.lock() else {
            // A poisoned lock only means another stream panicked mid-update: refuse nothing.
            return true;
        };
        buckets
            .entry((tenant.to_owned(), agent.to_owned()))
            .or_insert_with(|| RateLimit::new(rate, now))
            .take(now)
    }
}

impl Ingest {
    pub fn new(
        store: Arc<dyn MapStore>,
        interpreter: Arc<Interpreter>,
        limits: IngestLimits,
        hub: ChangeHub,
        metrics: Arc<Metrics>,
        connected: ConnectedAgents,
    ) -> Self {
        Self {
            store,
            interpreter,
            limits,
            hub,
            metrics,
            connected,
            rates: AgentRates::default(),
        }
    }

    /// The peer of a stream, or why it is refused.
    async fn peer<T>(&self, request: &Request<T>) -> Result<Peer, Status> {
        if request.peer_certs().is_none_or(|c| c.is_empty()) {
            return match &self.limits.plaintext_tenant {
                Some(tenant) => Ok(Peer {
                    tenant: tenant.clone(),
                    agent: None,
                    serial: None,
                    not_after_ms: None,
                }),
                None => Err(Status::unauthenticated(
                    "a client certificate issued by the collector's CA is required",
                )),
            };
        }
        let id = agent_identity(&self.store, request).await?;
        Ok(Peer {
            tenant: id.tenant,
            agent: Some(id.agent),
            serial: Some(id.serial),
            not_after_ms: Some(id.not_after_ms),
        })
    }
}

/// The agent behind a request's client certificate (verified by TLS against the agents'
/// CA): its identity, checked for revocation and expiry; or why it is refused.
pub async fn agent_identity<T>(
    store: &Arc<dyn MapStore>,
    request: &Request<T>,
) -> Result<crate::pki::AgentIdentity, Status> {
    let certs = request.peer_certs();
    let Some(leaf) = certs.as_ref().and_then(|c| c.first()) else {
        return Err(Status::unauthenticated(
            "a client certificate issued by the collector's CA is required",
        ));
    };
    let id = crate::pki::identity_from_der(leaf.as_ref())
        .map_err(|e| Status::unauthenticated(e.to_string()))?;
    let serial = id.serial.clone();
    let store = Arc::clone(store);
    let revoked = tokio::task::spawn_blocking(move || store.is_certificate_revoked(&serial))
        .await
        .map_err(|_| Status::internal("revocation check failed"))?
        .map_err(crate::status::to_status)?;
    if id.not_after_ms < crate::clock::now_ms() {
        // The TLS handshake checks validity too; this keeps the rule in one place with
        // the per-message check below.
        return Err(Status::unauthenticated("certificate expired"));
    }
    if revoked {
        tracing::warn!(tenant = %id.tenant, agent = %id.agent, serial = %id.serial, "revoked certificate refused");
        return Err(Status::unauthenticated("certificate revoked"));
    }
    Ok(id)
}

/// A token bucket: `rate` batches per second, bursts up to `2 * rate`. Time is the
/// caller's, so the rule is tested without waiting.
struct RateLimit {
    rate: f64,
    tokens: f64,
    last: std::time::Instant,
}

impl RateLimit {
    fn new(rate: u32, now: std::time::Instant) -> Self {
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: 2.0 * rate,
            last: now,
        }
    }

    fn take(&mut self, now: std::time::Instant) -> bool {
        self.tokens = (self.tokens
            + now.saturating_duration_since(self.last).as_secs_f64() * self.rate)
            .min(2.0 * self.rate);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Per-stream protocol state.
struct Session {
    peer: Peer,
    agent: Option<String>,
    rates: AgentRates,
    max_batches_per_second: u32,
    hub: ChangeHub,
    metrics: Arc<Metrics>,
    connected: ConnectedAgents,
    /// Set at Hello: this stream can receive ScanRequests until it ends.
    registration: Option<crate::agents::Registration>,
    outbox: mpsc::Sender<Result<CollectorMessage, Status>>,
    store: Arc<dyn MapStore>,
    interpreter: Arc<Interpreter>,
}

fn reject(
    code: RejectCode,
    reason: impl Into<String>,
    scan_id: &str,
    seq: u64,
) -> CollectorMessage {
    CollectorMessage {
        msg: Some(collector_message::Msg::Reject(Reject {
            code: code as i32,
            reason: reason.into(),
            scan_id: scan_id.to_owned(),
            seq,
        })),
    }
}

fn ack(scan_id: &str, seq: u64, duplicate: bool) -> CollectorMessage {
    CollectorMessage {
        msg: Some(collector_message::Msg::Ack(Ack {
            scan_id: scan_id.to_owned(),
            seq,
            duplicate,
        })),
    }
}

impl Session {
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn MapStore) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let store = Arc::clone(&self.store);
        tokio::task::spawn_blocking(move || f(store.as_ref()))
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
    }

    /// Why the peer's certificate no longer counts, checked before every message: a revoked
    /// or expired certificate is refused at once, also on a stream opened before.
    async fn distrusted(&self, scan_id: &str, seq: u64) -> Option<CollectorMessage> {
        if let Some(not_after) = self.peer.not_after_ms
            && not_after < crate::clock::now_ms()
        {
            return Some(reject(
                RejectCode::Unauthenticated,
                "certificate expired",
                scan_id,
                seq,
            ));
        }
        let serial = self.peer.serial.clone()?;
        match self
            .blocking(move |s| s.is_certificate_revoked(&serial))
            .await
        {
            Ok(false) => None,
            Ok(true) => Some(reject(
                RejectCode::Unauthenticated,
                "certificate revoked",
                scan_id,
                seq,
            )),
            Err(e) => Some(store_reject(e, scan_id, seq)),
        }
    }

    /// Handles one message; returns the answer, if any.
    async fn handle(&mut self, msg: AgentMessage) -> Option<CollectorMessage> {
        let Some(msg) = msg.msg else {
            return Some(reject(RejectCode::Protocol, "empty agent message", "", 0));
        };
        let (scan_id, seq) = match &msg {
            agent_message::Msg::Hello(_) => ("", 0),
            agent_message::Msg::ScanBegin(b) => (b.scan_id.as_str(), 0),
            agent_message::Msg::FactsBatch(b) => (b.scan_id.as_str(), b.seq),
            agent_message::Msg::ScanEnd(e) => (e.scan_id.as_str(), 0),
        };
        if let Some(refusal) = self.distrusted(scan_id, seq).await {
            tracing::warn!(tenant = %self.peer.tenant, agent = ?self.peer.agent, scan = scan_id, "message from a revoked or expired certificate refused");
            return Some(refusal);
        }
        match msg {
            agent_message::Msg::Hello(hello) => {
                if hello.agent_name.trim().is_empty() {
                    return Some(reject(
                        RejectCode::Protocol,
                        "hello without an agent name",
                        "",
                        0,
                    ));
                }
                if let Some(cert_agent) = &self.peer.agent
                    && cert_agent != &hello.agent_name
                {
                    return Some(reject(
                        RejectCode::Unauthenticated,
                        format!(
                            "hello names agent {:?} but the certificate is for {cert_agent:?}",
                            hello.agent_name
                        ),
                        "",
                        0,
                    ));
                }
                tracing::info!(tenant = %self.peer.tenant, agent = %hello.agent_name, version = %hello.agent_version, "agent connected");
                self.registration = Some(self.connected.register(
                    &self.peer.tenant,
                    &hello.agent_name,
                    self.outbox.clone(),
                ));
                self.agent = Some(hello.agent_name);
                None
            }
            agent_message::Msg::ScanBegin(begin) => {
                let Some(agent) = self.agent.clone() else {
                    return Some(reject(
                        RejectCode::Protocol,
                        "scan begun before hello",
                        &begin.scan_id,
                        0,
                    ));
                };
                if begin.scan_id.is_empty() {
                    return Some(reject(RejectCode::Protocol, "scan without an id", "", 0));
                }
                let tenant = self.peer.tenant.clone();
                let scan_id = begin.scan_id.clone();
                match self
                    .blocking(move |s| s.begin_scan(&tenant, &agent, &begin))
                    .await
                {
                    Ok(()) => None,
                    Err(e) => Some(store_reject(e, &scan_id, 0)),
                }
            }
            agent_message::Msg::FactsBatch(batch) => {
                let started = std::time::Instant::now();
                let facts = batch.facts.len() as u64;
                let gaps = batch
                    .facts
                    .iter()
                    .filter(|f| matches!(f.body, Some(landmeter_proto::v1::fact::Body::Gap(_))))
                    .count() as u64;
                let reply = self.batch(batch).await;
                let outcome = match &reply.msg {
                    Some(collector_message::Msg::Ack(a)) if a.duplicate => "duplicate",
                    Some(collector_message::Msg::Ack(_)) => {
                        self.metrics.facts_committed.inc_by(facts);
                        self.metrics.coverage_gaps.inc_by(gaps);
                        "committed"
                    }
                    _ => "rejected",
                };
                self.metrics.outcome(&self.metrics.batches, outcome);
                self.metrics
                    .ingest_latency
                    .observe(started.elapsed().as_secs_f64());
                Some(reply)
            }
            agent_message::Msg::ScanEnd(end) => Some(self.end(end).await),
        }
    }

    #[tracing::instrument(
        name = "ingest_batch",
        skip_all,
        fields(tenant = %self.peer.tenant, scan_id = %batch.scan_id, seq = batch.seq, facts = batch.facts.len())
    )]
    async fn batch(&mut self, batch: FactsBatch) -> CollectorMessage {
        let (scan_id, seq) = (batch.scan_id.clone(), batch.seq);
        let Some(agent) = self.agent.clone() else {
            return reject(RejectCode::Protocol, "batch before hello", &scan_id, seq);
        };
        let now = std::time::Instant::now();
        if !self
            .rates
            .take(&self.peer.tenant, &agent, self.max_batches_per_second, now)
        {
            return reject(
                RejectCode::RateLimited,
                "too many batches per second from this agent; resend after a pause",
                &scan_id,
                seq,
            );
        }
        if batch.facts.len() > MAX_FACTS_PER_BATCH {
            return reject(
                RejectCode::BatchTooLarge,
                format!(
                    "batch of {} facts exceeds the limit of {MAX_FACTS_PER_BATCH}",
                    batch.facts.len()
                ),
                &scan_id,
                seq,
            );
        }
        if seq == 0 {
            return reject(
                RejectCode::Sequence,
                "sequence numbers start at 1",
                &scan_id,
                seq,
            );
        }
        if let Some((i, why)) = batch
            .facts
            .iter()
            .enumerate()
            .find_map(|(i, f)| invalid_fact(f).map(|w| (i, w)))
        {
            return reject(
                RejectCode::InvalidFact,
                format!("fact {i}: {why}"),
                &scan_id,
                seq,
            );
        }
        let tenant = self.peer.tenant.clone();
        let result = self
            .blocking(move |s| {
                let last = s.last_seq(&tenant, &batch.scan_id)?;
                if batch.seq > last + 1 {
                    return Ok(Err(last));
                }
                s.commit_batch(&tenant, &agent, &batch).map(Ok)
            })
            .await;
        match result {
            Ok(Ok(BatchOutcome::Committed)) => ack(&scan_id, seq, false),
            Ok(Ok(BatchOutcome::Duplicate)) => ack(&scan_id, seq, true),
            Ok(Err(last)) => reject(
                RejectCode::Sequence,
                format!("batch {seq} skips ahead: last committed is {last}"),
                &scan_id,
                seq,
            ),
            Err(e) => store_reject(e, &scan_id, seq),
        }
    }

    #[tracing::instrument(
        name = "scan_end",
        skip_all,
        fields(tenant = %self.peer.tenant, scan_id = %end.scan_id, accounts = end.coverage.len())
    )]
    async fn end(&mut self, end: ScanEnd) -> CollectorMessage {
        let scan_id = end.scan_id.clone();
        let Some(agent) = self.agent.clone() else {
            return reject(RejectCode::Protocol, "scan end before hello", &scan_id, 0);
        };
        let tenant = self.peer.tenant.clone();
        let interpreter = Arc::clone(&self.interpreter);
        let started = std::time::Instant::now();
        match self
            .blocking(move |s| {
                crate::scan_end::finish_scan(
                    s,
                    &interpreter,
                    &tenant,
                    &agent,
                    &end,
                    crate::clock::now_ms(),
                )
            })
            .await
        {
            Ok(outcome) => {
                tracing::info!(
                    tenant = %self.peer.tenant,
                    scan = %scan_id,
                    stores = outcome.stores_interpreted,
                    gone = outcome.stores_gone,
                    already_finished = outcome.already_finished,
                    changes = outcome.changes.len(),
                    ms = started.elapsed().as_millis() as u64,
                    "scan finished"
                );
                self.metrics.scans_finished.inc();
                for e in &outcome.changes {
                    let kind = format!("{:?}", e.kind()).to_ascii_lowercase();
                    self.metrics
                        .changes
                        .get_or_create(&crate::metrics::KindLabel { kind })
                        .inc();
                }
                // Committed: now watchers may hear of it.
                self.hub.publish(outcome.changes);
                ack(&scan_id, 0, outcome.already_finished)
            }
            Err(e) => store_reject(e, &scan_id, 0),
        }
    }
}

/// Why a fact cannot be stored, if it cannot.
pub fn invalid_fact(f: &landmeter_proto::v1::Fact) -> Option<&'static str> {
    if f.account.is_empty() {
        return Some("no account");
    }
    if f.subject.is_empty() {
        return Some("no subject");
    }
    if f.body.is_none() {
        return Some("no body (unknown fact kind)");
    }
    None
}

fn store_reject(e: StoreError, scan_id: &str, seq: u64) -> CollectorMessage {
    let code = match &e {
        StoreError::UnknownScan(_) => RejectCode::UnknownScan,
        StoreError::ScanOwnedElsewhere { .. } => RejectCode::Protocol,
        StoreError::MissingBatches { .. } => RejectCode::IncompleteScan,
        _ => {
            tracing::error!(error = %e, scan = scan_id, seq, "ingest failed");
            RejectCode::Internal
        }
    };
    reject(code, e.to_string(), scan_id, seq)
}

type OutStream = Pin<Box<dyn Stream<Item = Result<CollectorMessage, Status>> + Send>>;

#[tonic::async_trait]
impl IngestService for Ingest {
    type StreamStream = OutStream;

    async fn stream(
        &self,
        request: Request<Streaming<AgentMessage>>,
    ) -> Result<Response<Self::StreamStream>, Status> {
        let peer = self.peer(&request).await?;
        let mut inbound = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let mut session = Session {
            peer,
            agent: None,
            rates: self.rates.clone(),
            max_batches_per_second: self.limits.max_batches_per_second,
            hub: self.hub.clone(),
            metrics: Arc::clone(&self.metrics),
            connected: self.connected.clone(),
            registration: None,
            outbox: tx.clone(),
            store: Arc::clone(&self.store),
            interpreter: Arc::clone(&self.interpreter),
        };
        // One task per stream, ending with the stream: messages are handled in order.
        tokio::spawn(async move {
            while let Some(item) = inbound.next().await {
                let reply = match item {
                    Ok(msg) => session.handle(msg).await.map(Ok),
                    Err(status) => {
                        tracing::warn!(code = ?status.code(), message = status.message(), "agent stream failed");
                        // A message over the size limit, or bytes that are no message at all:
                        // say which, then close the stream; nothing of it was stored.
                        let answer = match status.code() {
                            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => Some((
                                RejectCode::BatchTooLarge,
                                format!(
                                    "message over {} bytes: {}",
                                    landmeter_proto::MAX_MESSAGE_BYTES,
                                    status.message()
                                ),
                            )),
                            tonic::Code::Internal | tonic::Code::InvalidArgument => Some((
                                RejectCode::Protocol,
                                format!("undecodable message: {}", status.message()),
                            )),
                            _ => None,
                        };
                        if let Some((code, reason)) = answer {
                            let _ = tx.send(Ok(reject(code, reason, "", 0))).await;
                        }
                        break;
                    }
                };
                if let Some(reply) = reply
                    && tx.send(reply).await.is_err()
                {
                    break;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::RateLimit;

    #[test]
    fn the_rate_limit_allows_a_burst_of_twice_the_rate_then_refills_with_time() {
        let t0 = Instant::now();
        let mut r = RateLimit::new(5, t0);
        for i in 0..10 {
            assert!(r.take(t0), "burst batch {i}");
        }
        assert!(!r.take(t0), "the 11th at once is over the burst");
        // 200 ms at 5 per second earn one more, and only one.
        let t1 = t0 + Duration::from_millis(200);
        assert!(r.take(t1));
        assert!(!r.take(t1));
        // A long pause refills up to the burst, never beyond it.
        let t2 = t1 + Duration::from_secs(3600);
        let granted = (0..100).filter(|_| r.take(t2)).count();
        assert_eq!(granted, 10);
        // A clock that goes backwards earns nothing.
        assert!(!r.take(t0));
    }
}
