//! Agents connected right now, so the collector can ask them to scan (`ScanRequest`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tonic::Status;

use landmeter_proto::v1::{CollectorMessage, ScanRequest, collector_message};

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
