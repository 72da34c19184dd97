//! Agents connected right now, so the collector can ask them to scan (`ScanRequest`).
//!
//! Several collectors on one database: an operator's request is recorded there, every
//! collector passes it to the agents connected to it ([`follow_shared_requests`]) and
//! records whom it reached, and the collector that took the request answers with them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tonic::Status;

use landmeter_proto::v1::{CollectorMessage, ScanRequest, collector_message};

use crate::store::{MapStore, SharedScanRequest, StoreError};

type Outbox = mpsc::Sender<Result<CollectorMessage, Status>>;
/// (tenant, agent) -> (connection id, outbox).
type Registry = HashMap<(String, String), (u64, Outbox)>;

/// (tenant, agent) -> the open stream's outbound channel, one entry per connection.
#[derive(Clone, Default)]
pub struct ConnectedAgents {
    inner: Arc<Mutex<Registry>>,
    next_id: Arc<std::sync::atomic::AtomicU64>,
}

/// Removes the registration when the stream ends.
pub struct Registration {
    agents: ConnectedAgents,
    key: (String, String),
    id: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut map) = self.agents.inner.lock()
            && map.get(&self.key).is_some_and(|(id, _)| *id == self.id)
        {
            map.remove(&self.key);
        }
    }
}

impl ConnectedAgents {
    /// Registers a connected agent; the newest connection of an agent wins.
    pub fn register(&self, tenant: &str, agent: &str, outbox: Outbox) -> Registration {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let key = (tenant.to_owned(), agent.to_owned());
        if let Ok(mut map) = self.inner.lock() {
            map.insert(key.clone(), (id, outbox));
        }
        Registration {
            agents: self.clone(),
            key,
            id,
        }
    }

    /// Sends a ScanRequest to the tenant's agents (or one); returns who got it.
    pub fn request_scan(&self, tenant: &str, agent: Option<&str>, reason: &str) -> Vec<String> {
        let targets: Vec<(String, Outbox)> = match self.inner.lock() {
            Ok(map) => map
                .iter()
                .filter(|((t, a), _)| t == tenant && agent.is_none_or(|want| want == a))
                .map(|((_, a), (_, tx))| (a.clone(), tx.clone()))
                .collect(),
            Err(_) => Vec::new(),
        };
        let mut reached = Vec::new();
        for (name, tx) in targets {
            let msg = CollectorMessage {
                msg: Some(collector_message::Msg::ScanRequest(ScanRequest {
                    reason: reason.to_owned(),
                })),
            };
            if tx.try_send(Ok(msg)).is_ok() {
                reached.push(name);
            }
        }
        reached.sort();
        reached
    }
}

/// Scan requests older than this are not passed on: a collector that could not listen for a
/// while would otherwise wake agents for a question nobody waits for any more.
const SHARED_REQUEST_MAX_AGE_MS: i64 = 60_000;

/// How often the shared request follower looks without a wake-up (a safety net).
const SHARED_REQUEST_POLL: Duration = Duration::from_secs(10);

/// Longest an operator's request waits to hear which agents it reached through any collector.
const DELIVERY_WAIT: Duration = Duration::from_secs(2);
/// How often the deliveries are read while waiting.
const DELIVERY_POLL: Duration = Duration::from_millis(50);
/// The answer is given once the deliveries stop growing for this long.
const DELIVERY_SETTLED: Duration = Duration::from_millis(300);

/// Passes every scan request recorded through any collector sharing the database to the
/// agents connected to this one, and records whom it reached. Ends when `stopping` turns
/// true (or its sender is gone).
pub async fn follow_shared_requests(
    store: Arc<dyn MapStore>,
    mut wakeups: tokio::sync::watch::Receiver<i64>,
    connected: ConnectedAgents,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    // Requests recorded before this collector listened were passed on by those running then.
    let mut last = *wakeups.borrow_and_update();
    let mut safety_net = tokio::time::interval(SHARED_REQUEST_POLL);
    safety_net.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            woken = wakeups.changed() => if woken.is_err() { return },
            _ = safety_net.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        let reader = Arc::clone(&store);
        let since = crate::clock::now_ms() - SHARED_REQUEST_MAX_AGE_MS;
        let requests = match tokio::task::spawn_blocking(move || {
            reader.scan_requests_after(last, since)
        })
        .await
        {
            Ok(Ok(requests)) => requests,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, after_id = last, "reading shared scan requests failed");
                continue;
            }
            Err(e) => {
                tracing::error!(error = %e, "shared scan request reader failed");
                continue;
            }
        };
        for request in requests {
            last = request.id;
            let reached =
                connected.request_scan(&request.tenant, request.agent.as_deref(), &request.reason);
            if reached.is_empty() {
                continue;
            }
            tracing::info!(tenant = %request.tenant, request_id = request.id, agents = ?reached, "scan request passed on");
            let writer = Arc::clone(&store);
            let recorded = tokio::task::spawn_blocking(move || {
                writer.record_scan_deliveries(
                    &request.tenant,
                    request.id,
                    &reached,
                    crate::clock::now_ms(),
                )
            })
            .await;
            if !matches!(recorded, Ok(Ok(()))) {
                // The agents were asked; only the operator's answer may miss them.
                tracing::warn!(
                    request_id = request.id,
                    "recording a scan request's delivery failed"
                );
            }
        }
    }
}

/// Asks the tenant's agents (or one) to scan, wherever they are connected: through the
/// database when it is shared (the answer lists the agents that the collectors report
/// reaching within [`DELIVERY_WAIT`]), else directly.
pub async fn request_scan_anywhere(
    store: Arc<dyn MapStore>,
    connected: &ConnectedAgents,
    tenant: &str,
    agent: Option<&str>,
    reason: &str,
) -> Result<Vec<String>, StoreError> {
    let request = SharedScanRequest {
        id: 0,
        tenant: tenant.to_owned(),
        agent: agent.map(str::to_owned),
        reason: reason.to_owned(),
        requested_at_ms: crate::clock::now_ms(),
    };
    let writer = Arc::clone(&store);
    let recorded = tokio::task::spawn_blocking(move || writer.record_scan_request(&request))
        .await
        .map_err(task_failed)??;
    let Some(id) = recorded else {
        return Ok(connected.request_scan(tenant, agent, reason));
    };
    let deadline = tokio::time::Instant::now() + DELIVERY_WAIT;
    let mut reached: Vec<String> = Vec::new();
    let mut grew_at = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(DELIVERY_POLL).await;
        let (reader, tenant) = (Arc::clone(&store), tenant.to_owned());
        let now_reached = tokio::task::spawn_blocking(move || reader.scan_deliveries(&tenant, id))
            .await
            .map_err(task_failed)??;
        let now = tokio::time::Instant::now();
        if now_reached.len() > reached.len() {
            reached = now_reached;
            grew_at = now;
        }
        let named_reached = agent.is_some() && !reached.is_empty();
        let settled = !reached.is_empty() && now - grew_at >= DELIVERY_SETTLED;
        if named_reached || settled || now >= deadline {
            return Ok(reached);
        }
    }
}

/// A blocking store task that panicked or was cancelled, as a store error.
fn task_failed(e: tokio::task::JoinError) -> StoreError {
    StoreError::Io(std::io::Error::other(format!(
        "scan request task failed: {e}"
    )))
}
