//! `SharedFeed` on PostgreSQL: LISTEN for what any collector on this database committed.
//!
//! The transaction that records change events also sends `NOTIFY landmeter_changes` with the
//! highest id it recorded; PostgreSQL delivers it at commit. One connection of the store's
//! own (outside the pool, so a LISTEN never goes back to it) listens, and is made again
//! when it drops; after reconnecting, the head of `change_head` is announced, so whatever
//! was committed meanwhile is read by id like any other wake-up.

use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{mpsc, watch};
use tokio_postgres::{AsyncMessage, Client, Notification};

use super::PostgresStore;
use super::tls::RustlsConnect;
use crate::store::{SharedFeed, StoreError};

/// The channel change events are announced on; the payload is the highest id committed.
pub(super) const CHANGES_CHANNEL: &str = "landmeter_changes";

/// How the listening connection shows in `pg_stat_activity`.
pub const LISTENER_APPLICATION_NAME: &str = "landmeter-listener";

/// Longest wait between two attempts to listen again.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

const CHANGE_HEAD: &str = "SELECT last_id FROM change_head";

impl SharedFeed for PostgresStore {
    fn change_wakeups(&self) -> Result<Option<watch::Receiver<i64>>, StoreError> {
        let mut listener = self.listener.lock().map_err(|_| StoreError::Poisoned)?;
        if let Some(rx) = listener.as_ref() {
            return Ok(Some(rx.clone()));
        }
        let (mut config, tls) = (self.listen_config.clone(), self.listen_tls.clone());
        config.application_name(LISTENER_APPLICATION_NAME);
        // Listening first, then the head: a commit in between is announced, not lost.
        let (client, notes, head) = self.block(listen(&config, &tls))?;
        let (tx, rx) = watch::channel(head);
        self.runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .spawn(follow(config, tls, client, notes, tx));
        *listener = Some(rx.clone());
        Ok(Some(rx))
    }
}

/// Connects, listens, and reads the change head. The connection is driven by a task of its
/// own that forwards notifications; the channel closes when the connection ends.
async fn listen(
    config: &tokio_postgres::Config,
    tls: &RustlsConnect,
) -> Result<(Client, mpsc::UnboundedReceiver<Notification>, i64), StoreError> {
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
        .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
        .await?;
    let head: i64 = client.query_one(CHANGE_HEAD, &[]).await?.try_get(0)?;
    Ok((client, notes, head))
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
    tx: watch::Sender<i64>,
) {
    // Held so the connection stays open: it ends when its client is dropped.
    let mut _client = client;
    loop {
        while let Some(note) = notes.recv().await {
            if note.channel() != CHANGES_CHANNEL {
                continue;
            }
            match note.payload().parse::<i64>() {
                Ok(id) => announce(&tx, id),
                Err(_) => tracing::warn!(
                    payload = note.payload(),
                    "change notification without an id"
                ),
            }
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            tokio::time::sleep(backoff).await;
            match listen(&config, &tls).await {
                Ok((client, again, head)) => {
                    tracing::info!(head, "listening to the database again");
                    _client = client;
                    notes = again;
                    announce(&tx, head);
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
