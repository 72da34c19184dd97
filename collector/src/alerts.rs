//! Alert rules: chosen changes to the map, delivered as an HTTP POST with a JSON body, in
//! landmeter's own shape or as a CloudEvents 1.0 structured event, signed with HMAC-SHA256
//! when the rule has a secret (receivers verify with `docs/webhooks.md`'s recipe).

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

/// The body a webhook receives.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertFormat {
    /// `{"alert", "condition", "event"}` as `application/json`.
    #[default]
    Landmeter,
    /// A CloudEvents 1.0 structured-mode event (`application/cloudevents+json`) whose `data`
    /// is the landmeter body.
    Cloudevents,
}

/// `[[alerts]]` in the collector configuration.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    pub name: String,
    /// Receives `POST` with `{"alert", "condition", "event"}`; http or https.
    pub url: String,
    pub on: Vec<Condition>,
    /// Default `landmeter`; `cloudevents` for CloudEvents 1.0.
    #[serde(default)]
    pub format: AlertFormat,
    /// A file holding the shared secret: each delivery then carries
    /// `Landmeter-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
    #[serde(default)]
    pub secret_file: Option<std::path::PathBuf>,
}

impl AlertRule {
    /// The signing secret, read from `secret_file` (surrounding whitespace dropped). An empty
    /// or unreadable file is an error: a rule meant to be signed is never sent unsigned.
    pub fn secret(&self) -> Result<Option<Vec<u8>>, String> {
        let Some(path) = &self.secret_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("alert {}: secret_file {}: {e}", self.name, path.display()))?;
        let secret = text.trim();
        if secret.is_empty() {
            return Err(format!(
                "alert {}: secret_file {} is empty",
                self.name,
                path.display()
            ));
        }
        Ok(Some(secret.as_bytes().to_vec()))
    }
}

/// `Landmeter-Signature` for `body` sent at `unix_secs`: `t=<secs>,v1=<hex HMAC-SHA256 over
/// "<secs>.<body>">`. The timestamp is inside the MAC, so a receiver that rejects old
/// timestamps also rejects replays.
pub fn signature(secret: &[u8], unix_secs: u64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(unix_secs.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    format!("t={unix_secs},v1={}", crate::pki::hex(ctx.sign().as_ref()))
}

/// The bytes and content type one rule posts for one event.
fn payload(rule: &AlertRule, condition: Condition, event: &ChangeEvent) -> (Vec<u8>, &'static str) {
    let body = serde_json::json!({
        "alert": rule.name,
        "condition": condition,
        "event": landmeter_proto::json::change(event),
    });
    let (value, content_type) = match rule.format {
        AlertFormat::Landmeter => (body, "application/json"),
        AlertFormat::Cloudevents => {
            let condition = serde_json::to_value(condition)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let time = time::OffsetDateTime::from_unix_timestamp_nanos(
                i128::from(event.at_ms) * 1_000_000,
            )
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            });
            (
                serde_json::json!({
                    "specversion": "1.0",
                    // Unique per rule and change: a receiver de-duplicates retries by it.
                    "id": format!("{}-{}", event.id, rule.name),
                    "source": format!("urn:landmeter:tenant:{}", event.tenant),
                    "type": format!("nl.landmeter.alert.{condition}"),
                    "subject": event.store_id,
                    "time": time,
                    "datacontenttype": "application/json",
                    "data": body,
                }),
                "application/cloudevents+json",
            )
        }
    };
    (value.to_string().into_bytes(), content_type)
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
    // Secrets were checked when the configuration was validated; one that has gone since
    // disables its rule (never an unsigned delivery of a rule meant to be signed).
    let rules: Vec<(AlertRule, Option<Vec<u8>>)> = rules
        .into_iter()
        .filter_map(|rule| match rule.secret() {
            Ok(secret) => Some((rule, secret)),
            Err(e) => {
                tracing::error!(error = %e, "alert rule disabled");
                None
            }
        })
        .collect();
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
        for (rule, secret) in &rules {
            let Some(condition) = triggered(&rule.on, &event) else {
                continue;
            };
            let (body, content_type) = payload(rule, condition, &event);
            let mut delivered = false;
            for attempt in 0..4u32 {
                if attempt > 0 {
                    tokio::time::sleep(Duration::from_millis(250 * 2u64.pow(attempt))).await;
                }
                let mut request = client
                    .post(&rule.url)
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(body.clone());
                if let Some(secret) = secret {
                    // Signed per attempt: a retry carries a fresh timestamp.
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.as_secs());
                    request = request.header("Landmeter-Signature", signature(secret, now, &body));
                }
                match request.send().await {
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
            if !delivered {
                // Given up after the retries: the change stays in the history
                // (`landmeter changes`), the alert itself is dropped and counted.
                metrics.webhook_dead_letters.inc();
                tracing::error!(alert = %rule.name, change = event.id, "webhook given up after 4 attempts (dead letter)");
            }
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
