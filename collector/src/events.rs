//! Live change events: published after the transaction that recorded them commits.
//!
//! One process writing (SQLite): the ingest path publishes what it committed. Several
//! collectors sharing a database (PostgreSQL): watchers are fed by [`follow_shared`] instead,
//! which reads every collector's changes by id when the store wakes it, so each watcher sees
//! them all in commit order; the ingest path's own hub then feeds only the alerts, so a
//! webhook fires once, from the collector that committed the change.

use std::sync::Arc;

use tokio::sync::broadcast;

use landmeter_proto::v1::{ChangeEvent, StoreFilter};

use crate::store::{MapStore, Scope};

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

/// Changes read from the database per round trip while catching up.
const CATCH_UP_PAGE: usize = 1_000;

/// How often the shared feed looks for changes without a wake-up: a safety net only, since a
/// lost wake-up is also made good by the next one.
const CATCH_UP_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

/// Publishes into `hub`, in id order and once each, every change any collector sharing the
/// database commits: woken by the store, it reads the changes recorded after the last id it
/// published. Ends when `stopping` turns true (or its sender is gone).
pub async fn follow_shared(
    store: Arc<dyn MapStore>,
    mut wakeups: tokio::sync::watch::Receiver<i64>,
    hub: ChangeHub,
    mut stopping: tokio::sync::watch::Receiver<bool>,
) {
    // Changes committed before listening began are history: watchers replay it by id.
    let mut last = *wakeups.borrow_and_update();
    let mut safety_net = tokio::time::interval(CATCH_UP_EVERY);
    safety_net.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            woken = wakeups.changed() => if woken.is_err() { return },
            _ = safety_net.tick() => {}
            _ = stopping.wait_for(|s| *s) => return,
        }
        loop {
            let reader = Arc::clone(&store);
            let page = tokio::task::spawn_blocking(move || {
                reader.list_changes(
                    &Scope::AllTenants,
                    0,
                    last,
                    CATCH_UP_PAGE,
                    &StoreFilter::default(),
                )
            })
            .await;
            let page = match page {
                Ok(Ok(page)) => page,
                Ok(Err(e)) => {
                    // The next wake-up or tick tries again from the same id: nothing is skipped.
                    tracing::warn!(error = %e, after_id = last, "reading shared changes failed");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "shared change reader failed");
                    break;
                }
            };
            let full = page.len() == CATCH_UP_PAGE;
            if let Some(newest) = page.last() {
                last = newest.id;
            }
            hub.publish(page);
            if !full {
                break;
            }
        }
    }
}
