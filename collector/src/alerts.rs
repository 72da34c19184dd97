//! Alert rules: chosen changes to the map, delivered as an HTTP POST with a JSON body.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use landmeter_proto::Custody;
use landmeter_proto::v1::{ChangeEvent, ChangeKind};

use crate::events::ChangeHub;
use crate::map::UNCLASSIFIED;
use crate::metrics::Metrics;

/// A change worth an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Condition {
    /// A store's location left the EU/EEA.
    LeftEu,
    /// A store started replicating outside the EU/EEA (or appeared doing so).
    ReplicatedOutsideEu,
    /// Key custody went down the ladder (e.g. customer-managed to provider).
    CustodyDown,
    /// A new store without a classification.
    NewUnclassified,
    /// A store is gone.
    Gone,
    /// Every change.
    Any,
}

/// `[[alerts]]` in the collector configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// Receives `POST` with `{"alert", "condition", "event"}`; http or https.
    pub url: String,
    pub on: Vec<Condition>,
}

fn field<'e>(e: &'e ChangeEvent, name: &str) -> Option<(&'e str, &'e str)> {
    e.changes
        .iter()
        .find(|c| c.field == name)
        .map(|c| (c.before.as_str(), c.after.as_str()))
}

/// The first of `conditions` this event meets.
pub fn triggered(conditions: &[Condition], e: &ChangeEvent) -> Option<Condition> {
    let store = e.store.as_ref();
    conditions.iter().copied().find(|c| match c {
        Condition::Any => true,
        Condition::Gone => e.kind() == ChangeKind::Gone,
        // From EU (or unknown) to outside: known now, whatever it was.
        Condition::LeftEu => field(e, "eu").is_some_and(|(_, after)| after == "false"),
        Condition::ReplicatedOutsideEu => {
            field(e, "replicated_outside_eu").is_some_and(|(_, after)| after == "true")
                || (e.kind() == ChangeKind::Added && store.is_some_and(|s| s.replicated_outside_eu))
        }
        Condition::CustodyDown => field(e, "custody").is_some_and(|(before, after)| {
            let rank = |l: &str| Custody::from_label(l).map_or(0, |c| c.rank());
            rank(after) < rank(before)
        }),
        Condition::NewUnclassified => {
            e.kind() == ChangeKind::Added && store.is_some_and(|s| s.classification == UNCLASSIFIED)
        }
    })
}

/// Delivers alerts for committed changes until the hub closes. A failed delivery is retried
/// three times with backoff, then counted and logged: alerts never block ingest.
///
/// Subscribes when called, not when first polled: a change committed before the spawned
/// task first runs (or while its HTTP client is built) is still delivered.
pub fn run(
    rules: Vec<AlertRule>,
    hub: ChangeHub,
    metrics: Arc<Metrics>,
) -> impl std::future::Future<Output = ()> + Send {
    let events = (!rules.is_empty()).then(|| hub.subscribe());
    async move {
        if let Some(events) = events {
            deliver(rules, events, metrics).await;
        }
    }
}

async fn deliver(
    rules: Vec<AlertRule>,
    mut events: tokio::sync::broadcast::Receiver<Arc<ChangeEvent>>,
    metrics: Arc<Metrics>,
) {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "alerts disabled: no HTTP client");
            return;
        }
    };
    loop {
        let event = match events.recv().await {
            Ok(e) => e,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "alerts fell behind; missed events stay in the change history"
                );
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        for rule in &rules {
            let Some(condition) = triggered(&rule.on, &event) else {
                continue;
            };
            let body = serde_json::json!({
                "alert": rule.name,
                "condition": condition,
                "event": landmeter_proto::json::change(&event),
            });
            let mut delivered = false;
            for attempt in 0..4u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
                }
                match client.post(&rule.url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {
                        delivered = true;
                        break;
                    }
                    Ok(r) => {
                        tracing::warn!(alert = %rule.name, status = %r.status(), attempt, "webhook refused")
                    }
                    Err(e) => {
                        tracing::warn!(alert = %rule.name, error = %e, attempt, "webhook failed")
                    }
                }
            }
            metrics.outcome(
                &metrics.webhooks,
                if delivered { "delivered" } else { "failed" },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use landmeter_proto::v1::{FieldChange, StoreView};

    fn changed(field: &str, before: &str, after: &str) -> ChangeEvent {
        ChangeEvent {
            kind: ChangeKind::Changed as i32,
            changes: vec![FieldChange {
                field: field.into(),
                before: before.into(),
                after: after.into(),
            }],
            store: Some(StoreView::default()),
            ..ChangeEvent::default()
        }
    }

    #[test]
    fn conditions() {
        use Condition::*;
        let all = [
            LeftEu,
            ReplicatedOutsideEu,
            CustodyDown,
            NewUnclassified,
            Gone,
        ];
        assert_eq!(
            triggered(&all, &changed("eu", "true", "false")),
            Some(LeftEu)
        );
        assert_eq!(triggered(&all, &changed("eu", "false", "true")), None);
        assert_eq!(
            triggered(&all, &changed("replicated_outside_eu", "false", "true")),
            Some(ReplicatedOutsideEu)
        );
        assert_eq!(
            triggered(&all, &changed("custody", "hyok", "provider")),
            Some(CustodyDown)
        );
        assert_eq!(
            triggered(&all, &changed("custody", "provider", "byok")),
            None
        );
        let added = ChangeEvent {
            kind: ChangeKind::Added as i32,
            store: Some(StoreView {
                classification: UNCLASSIFIED.into(),
                ..StoreView::default()
            }),
            ..ChangeEvent::default()
        };
        assert_eq!(triggered(&all, &added), Some(NewUnclassified));
        let gone = ChangeEvent {
            kind: ChangeKind::Gone as i32,
            ..ChangeEvent::default()
        };
        assert_eq!(triggered(&all, &gone), Some(Gone));
        assert_eq!(triggered(&[Any], &gone), Some(Any));
    }
}
