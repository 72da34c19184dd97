//! `SharedFeed` on PostgreSQL: LISTEN for what any collector on this database committed.
//!
//! The transaction that records change events also sends `NOTIFY landmeter_changes` with the
//! highest id it recorded, and one that records a scan request `NOTIFY
//! landmeter_scan_requests` with its id; PostgreSQL delivers them at commit. One connection
//! of the store's own (outside the pool, so a LISTEN never goes back to it) listens on both,
//! and is made again when it drops; after reconnecting, the heads (`change_head`,
//! `scan_request_head`) are announced, so whatever was committed meanwhile is read by id
//! like any other wake-up.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, Notification};

use super::PostgresStore;
use super::tls::RustlsConnect;
use crate::store::{SharedFeed, SharedScanRequest, StoreError};

/// The channel change events are announced on; the payload is the highest id committed.
pub(super) const CHANGES_CHANNEL: &str = "landmeter_changes";
/// The channel scan requests are announced on; the payload is the request's id.
const SCAN_REQUESTS_CHANNEL: &str = "landmeter_scan_requests";

/// How long a tenant's scan requests and their deliveries are kept (7 days).
const SCAN_REQUESTS_KEPT_MS: i64 = 7 * 24 * 3600 * 1000;

/// How the listening connection shows in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "landmeter-listener";

/// Longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

const HEADS: &str =
    "SELECT (SELECT last_id FROM change_head), (SELECT last_id FROM scan_request_head)";

/// The wake-ups of one listening connection, per channel.
#[derive(Clone)]
pub(super) struct Wakeups {
    changes: watch::Receiver<i64>,
    scan_requests: watch::Receiver<i64>,
}

/// The senders behind [`Wakeups`].
struct Announcer {
    changes: watch::Sender<i64>,
    scan_requests: watch::Sender<i64>,
}

impl Announcer {
    fn heads(&self, (changes, scan_requests): (i64, i64)) {
        announce(&self.changes, changes);
        announce(&self.scan_requests, scan_requests);
    }

    fn note(&self, note: &Notification) {
        let sender = match note.channel() {
            CHANGES_CHANNEL => &self.changes,
            SCAN_REQUESTS_CHANNEL => &self.scan_requests,
            _ => return,
        };
        match note.payload().parse::<i64>() {
            Ok(id) => announce(sender, id),
            Err(_) => tracing::warn!(
                channel = note.channel(),
                payload = note.payload(),
                "notification without an id"
            ),
        }
    }
}

impl PostgresStore {
    /// The listening connection's wake-ups, listening first when nothing did yet.
    fn wakeups(&self) -> Result<Wakeups, StoreError> {
        let mut listener = self.listener.lock().map_err(|_| StoreError::Poisoned)?;
        if let Some(wakeups) = listener.as_ref() {
            return Ok(wakeups.clone());
        }
        let (mut config, tls) = (self.listen_config.clone(), self.listen_tls.clone());
        config.application_name(LISTENER_APPLICATION_NAME);
        // Listening first, then the heads: a commit in between is announced, not lost.
        let (client, notes, (changes, scan_requests)) = self.block(listen(&config, &tls))?;
        let (changes_tx, changes_rx) = watch::channel(changes);
        let (requests_tx, requests_rx) = watch::channel(scan_requests);
        let wakeups = Wakeups {
            changes: changes_rx,
            scan_requests: requests_rx,
        };
        let announcer = Announcer {
            changes: changes_tx,
            scan_requests: requests_tx,
        };
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .spawn(follow(config, tls, client, notes, announcer));
        *listener = Some(wakeups.clone());
        Ok(wakeups)
    }
}

impl SharedFeed for PostgresStore {
    fn change_wakeups(&self) -> Result<Option<watch::Receiver<i64>>, StoreError> {
        Ok(Some(self.wakeups()?.changes))
    }

    fn scan_request_wakeups(&self) -> Result<Option<watch::Receiver<i64>>, StoreError> {
        Ok(Some(self.wakeups()?.scan_requests))
    }

    fn record_scan_request(&self, request: &SharedScanRequest) -> Result<Option<i64>, StoreError> {
        let mut client = self.client()?;
        let id = self.retrying(|| {
            self.block(async {
                let tx = client.transaction().await?;
                // The head row stays locked until the commit: ids in commit order.
                let id: i64 = tx
                    .query_one(
                        "UPDATE scan_request_head SET last_id = last_id + 1 RETURNING last_id",
                        &[],
                    )
                    .await?
                    .try_get(0)?;
                tx.execute(
                    "INSERT INTO scan_requests (tenant, id, agent, reason, requested_at_ms)
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        &request.tenant,
                        &id,
                        &request.agent,
                        &request.reason,
                        &request.requested_at_ms,
                    ],
                )
                .await?;
                // The tenant's requests of last week and before are history nobody reads.
                let kept_since = request.requested_at_ms - SCAN_REQUESTS_KEPT_MS;
                tx.execute(
                    "DELETE FROM scan_request_deliveries
                     WHERE tenant = $1 AND delivered_at_ms < $2",
                    &[&request.tenant, &kept_since],
                )
                .await?;
                tx.execute(
                    "DELETE FROM scan_requests WHERE tenant = $1 AND requested_at_ms < $2",
                    &[&request.tenant, &kept_since],
                )
                .await?;
                tx.execute(
                    "SELECT pg_notify($1, $2)",
                    &[&SCAN_REQUESTS_CHANNEL, &id.to_string()],
                )
                .await?;
                tx.commit().await?;
                Ok::<_, StoreError>(id)
            })
        })?;
        Ok(Some(id))
    }

    fn scan_requests_after(
        &self,
        after_id: i64,
        since_ms: i64,
    ) -> Result<Vec<SharedScanRequest>, StoreError> {
        let rows = self.query(
            "SELECT id, tenant, agent, reason, requested_at_ms FROM scan_requests
             WHERE id > $1 AND requested_at_ms >= $2 ORDER BY id",
            &[&after_id, &since_ms],
        )?;
        rows.iter()
            .map(|r| {
                Ok(SharedScanRequest {
                    id: r.try_get(0)?,
                    tenant: r.try_get(1)?,
                    agent: r.try_get(2)?,
                    reason: r.try_get(3)?,
                    requested_at_ms: r.try_get(4)?,
                })
            })
            .collect()
    }

    fn record_scan_deliveries(
        &self,
        tenant: &str,
        request_id: i64,
        agents: &[String],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO scan_request_deliveries (tenant, request_id, agent, delivered_at_ms)
             SELECT $1, $2, a, $4 FROM unnest($3::text[]) AS a
             ON CONFLICT DO NOTHING",
            &[&tenant, &request_id, &agents, &now_ms],
        )?;
        Ok(())
    }

    fn scan_deliveries(&self, tenant: &str, request_id: i64) -> Result<Vec<String>, StoreError> {
        let rows = self.query(
            "SELECT agent FROM scan_request_deliveries
             WHERE tenant = $1 AND request_id = $2 ORDER BY agent",
            &[&tenant, &request_id],
        )?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}

/// Connects, listens, and reads the change head. The connection is driven by a task of its
/// own that forwards notifications; the channel closes when the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    tls: &RustlsConnect,
) -> Result<(Client, mpsc::UnboundedReceiver<Notification>, (i64, i64)), StoreError> {
    let (client, mut connection) = config.connect(tls.clone()).await?;
    let (notes_tx, notes) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(message) = messages.next().await {
            match message {
                Ok(AsyncMessage::Notification(n)) => {
                    if notes_tx.send(n).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "listening connection to the database lost");
                    return;
                }
            }
        }
    });
    client
        .batch_execute(&format!(
            "LISTEN {CHANGES_CHANNEL}; LISTEN {SCAN_REQUESTS_CHANNEL}"
        ))
        .await?;
    let heads = client.query_one(HEADS, &[]).await?;
    Ok((client, notes, (heads.try_get(0)?, heads.try_get(1)?)))
}

/// Raises the announced head to `id` (never lowers it); wakes the receivers when it rose.
fn announce(tx: &watch::Sender<i64>, id: i64) {
    tx.send_if_modified(|head| {
        let rose = id > *head;
        if rose {
            *head = id;
        }
        rose
    });
}

/// Forwards notifications as wake-ups, listening again (with backoff) whenever the
/// connection ends. Runs on the store's runtime until the store is dropped.
async fn follow(
    config: tokio_postgres::Config,
    tls: RustlsConnect,
    client: Client,
    mut notes: mpsc::UnboundedReceiver<Notification>,
    announcer: Announcer,
) {
    // Held so the connection stays open: it ends when its client is dropped.
    let mut _client = client;
    loop {
        while let Some(note) = notes.recv().await {
            announcer.note(&note);
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::time::sleep(backoff).await;
            match listen(&config, &tls).await {
                Ok((client, again, heads)) => {
                    tracing::info!(
                        change_head = heads.0,
                        scan_request_head = heads.1,
                        "listening to the database again"
                    );
                    _client = client;
                    notes = again;
                    announcer.heads(heads);
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "listening to the database failed; retrying");
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}
