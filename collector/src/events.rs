//! Live change events: published after the transaction that recorded them commits.

use std::sync::Arc;

use tokio::sync::broadcast;

use landmeter_proto::v1::ChangeEvent;

/// Fan-out of committed change events to watchers (gRPC Watch, webhooks).
/// A watcher that falls behind is told so and catches up from the database.
#[derive(Clone)]
pub struct ChangeHub {
    tx: broadcast::Sender<Arc<ChangeEvent>>,
}

impl Default for ChangeHub {
    fn default() -> Self {
        Self::new(4096)
    }
}

impl ChangeHub {
    pub fn new(capacity: usize) -> Self {
        Self {
            tx: broadcast::channel(capacity).0,
        }
    }

    pub fn publish(&self, events: Vec<ChangeEvent>) {
        for e in events {
            // No receiver is fine: nobody watches.
            let _ = self.tx.send(Arc::new(e));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<ChangeEvent>> {
        self.tx.subscribe()
    }
}
