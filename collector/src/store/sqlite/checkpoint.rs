//! Checkpoints mostly on their own thread, so the writer mostly appends to the WAL.
//!
//! With SQLite's automatic checkpoint the commit that crosses the WAL threshold copies the
//! whole WAL into the database file (and syncs it) while every waiting batch waits with it.
//! This thread runs a PASSIVE checkpoint on its own connection every [`INTERVAL`]: PASSIVE
//! never waits for the writer or for readers, it copies what it can. It can never finish
//! while commits keep coming, though, and SQLite starts the WAL over only after a checkpoint
//! that finished; so the writer keeps a (larger) automatic threshold, at which it copies
//! only the frames this thread has not yet copied.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

use super::configure;
use crate::store::{Durability, StoreError};

const INTERVAL: Duration = Duration::from_millis(100);

/// The checkpoint thread; it stops (after a last checkpoint) when this is dropped.
pub(super) struct Checkpointer {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let conn = Connection::open(path)?;
        configure(&conn, durability)?;
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                loop {
                    let last = matches!(
                        stopped.recv_timeout(INTERVAL),
                        Err(RecvTimeoutError::Disconnected) | Ok(())
                    );
                    if let Err(e) = checkpoint(&conn) {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retried in {INTERVAL:?}");
                    }
                    if last {
                        return;
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

fn checkpoint(conn: &Connection) -> rusqlite::Result<()> {
    // Returns (busy, frames in the WAL, frames checkpointed); a partial one is no error.
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use landmeter_proto::v1::{Fact, FactsBatch, ScanBegin, Tag, Tags, fact::Body};

    use super::super::SqliteStore;
    use crate::store::{BatchOutcome, IngestStore};

    #[test]
    fn the_thread_copies_committed_pages_into_the_database_file() {
        let dir = std::env::temp_dir().join(format!("landmeter-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("db.sqlite");
        let s = SqliteStore::open(&path).unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let empty = size();
        s.begin_scan(
            "t",
            "agent",
            &ScanBegin {
                scan_id: "s".into(),
                started_at_ms: 1,
                accounts: vec!["acct".into()],
                provider: "aws".into(),
                ..Default::default()
            },
        )
        .unwrap();
        // About 1 MB of facts: some 300 pages, far below the writer's own threshold
        // (8,192), so SQLite alone would leave every one of them in the WAL.
        let facts: Vec<Fact> = (0..2000)
            .map(|i| Fact {
                account: "acct".into(),
                subject: format!("bucket-{i:05}"),
                api_call: "s3:GetBucketTagging".into(),
                observed_at_ms: 1,
                body: Some(Body::Tags(Tags {
                    tags: vec![Tag {
                        key: "note".into(),
                        value: "x".repeat(400),
                    }],
                })),
            })
            .collect();
        let batch = FactsBatch {
            scan_id: "s".into(),
            seq: 1,
            facts,
        };
        assert_eq!(
            s.commit_batch("t", "agent", &batch).unwrap(),
            BatchOutcome::Committed
        );
        let wal = std::fs::metadata(dir.join("db.sqlite-wal")).unwrap().len();
        assert!(wal > 1_000_000, "the commit went to the WAL: {wal} bytes");
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while size() < empty + 1_000_000 && Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            size() >= empty + 1_000_000,
            "database file {} bytes (empty: {empty}): nothing was checkpointed",
            size()
        );
        drop(s);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
