//! Group commit on the one writing connection, and the per-account change counters that
//! tell a scan end planned on a snapshot whether the snapshot is still current.

use std::collections::HashSet;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use rusqlite::Connection;

use super::Touched;
use crate::store::{BackendError, StoreError};

/// Change counters per account (hashed into a fixed number of slots: a collision only makes
/// a plan fall back to the writer, never accepts a stale one).
pub(super) struct Generations(Box<[AtomicU64]>);

const SLOTS: usize = 4096;

impl Generations {
    pub(super) fn new() -> Self {
        Self((0..SLOTS).map(|_| AtomicU64::new(0)).collect())
    }

    fn slot(account: &str) -> usize {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        account.hash(&mut h);
        (h.finish() % SLOTS as u64) as usize
    }

    pub(super) fn get(&self, account: &str) -> u64 {
        self.0[Self::slot(account)].load(Ordering::SeqCst)
    }

    /// Called with the writer lock held, after the commit that changed these accounts.
    pub(super) fn bump<'a>(&self, accounts: impl IntoIterator<Item = &'a str>) {
        for a in accounts {
            self.0[Self::slot(a)].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// After a change to every account (re-interpretation).
    pub(super) fn bump_all(&self) {
        for s in self.0.iter() {
            s.fetch_add(1, Ordering::SeqCst);
        }
    }
}

/// Group commit: the one writer connection, shared so that writes arriving while another
/// runs join its transaction and are committed (and synced) together.
///
/// Each write runs in a savepoint of the open transaction, so a failed write leaves nothing
/// behind and the others are unaffected. When a write is done and others are waiting for
/// the connection, it leaves the transaction open for them and sleeps until the group's
/// COMMIT is over; the last of a group (nobody waiting, or the group full) commits and wakes
/// the rest. A write returns success only after the COMMIT that made it durable, so an
/// acknowledgement still follows its commit; if that COMMIT fails, every write of the group
/// returns the error.
pub(super) struct GroupWriter {
    state: Mutex<WriterState>,
    committed: Condvar,
    waiting: AtomicUsize,
    pub(super) generations: Generations,
}

/// Writes one group may hold: bounds how long the first of them waits for its commit.
const MAX_GROUP: usize = 64;

struct WriterState {
    conn: Connection,
    /// The open group's number, while a transaction is open.
    open: Option<u64>,
    last: u64,
    /// Writes in the open group, and how many of them wait for its commit.
    writes: usize,
    followers: usize,
    /// Highest group whose COMMIT is over (committed or failed).
    done: u64,
    /// Failed groups: the error code and message, and how many followers have yet to read it.
    failed: Vec<(u64, i32, String, usize)>,
    /// Accounts the open group changed: bumped in the generations after its commit.
    touched: HashSet<String>,
    touched_all: bool,
}

/// Accounts changed by the open group, not yet committed: a snapshot cannot have seen them.
pub(super) struct Uncommitted<'a> {
    touched: &'a HashSet<String>,
    all: bool,
}

impl Uncommitted<'_> {
    pub(super) fn touches(&self, accounts: &[String]) -> bool {
        self.all || accounts.iter().any(|a| self.touched.contains(a))
    }
}

fn group_failed(code: i32, why: &str) -> StoreError {
    StoreError::Backend(BackendError {
        message: format!("the transaction this write was grouped into failed: {why}"),
        code: Some(code),
    })
}

fn error_code(e: &StoreError) -> i32 {
    match e {
        StoreError::Backend(BackendError {
            code: Some(code), ..
        }) => *code,
        _ => rusqlite::ffi::SQLITE_ERROR,
    }
}

impl GroupWriter {
    pub(super) fn new(conn: Connection) -> Self {
        Self {
            state: Mutex::new(WriterState {
                conn,
                open: None,
                last: 0,
                writes: 0,
                followers: 0,
                done: 0,
                failed: Vec::new(),
                touched: HashSet::new(),
                touched_all: false,
            }),
            committed: Condvar::new(),
            waiting: AtomicUsize::new(0),
            generations: Generations::new(),
        }
    }

    /// Runs `f` in the writer's transaction; returns once that transaction committed.
    /// `f` says which accounts it changed.
    pub(super) fn write<T>(
        &self,
        f: impl FnOnce(&Connection, &Uncommitted<'_>) -> Result<(T, Touched), StoreError>,
    ) -> Result<T, StoreError> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let locked = self.state.lock();
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        let mut w = locked.map_err(|_| StoreError::Poisoned)?;
        let group = match w.open {
            Some(g) => g,
            None => {
                w.conn.execute_batch("BEGIN")?;
                w.last += 1;
                let g = w.last;
                w.open = Some(g);
                w.writes = 0;
                w.followers = 0;
                g
            }
        };
        w.writes += 1;
        let result = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| w.run(f))) {
            Ok(r) => r,
            Err(panic) => {
                // Nothing of the group may be committed on a half-done write's behalf.
                let _ = w.conn.execute_batch("ROLLBACK");
                w.end_group(
                    group,
                    Some((rusqlite::ffi::SQLITE_ABORT, "a write panicked".into())),
                    &self.generations,
                );
                self.committed.notify_all();
                drop(w);
                std::panic::resume_unwind(panic);
            }
        };
        if w.conn.is_autocommit() {
            // SQLite rolled the whole transaction back (I/O error, disk full, ...).
            let (code, why) = match &result {
                Err(e) => (error_code(e), e.to_string()),
                Ok(_) => (
                    rusqlite::ffi::SQLITE_ABORT,
                    "transaction rolled back".into(),
                ),
            };
            w.end_group(group, Some((code, why.clone())), &self.generations);
            self.committed.notify_all();
            return Err(result.err().unwrap_or_else(|| group_failed(code, &why)));
        }
        if self.waiting.load(Ordering::SeqCst) > 0 && w.writes < MAX_GROUP {
            // A failed write left nothing in the transaction: it need not wait.
            let out = result?;
            w.followers += 1;
            let mut w = self
                .committed
                .wait_while(w, |w| w.done < group)
                .map_err(|_| StoreError::Poisoned)?;
            if let Some(i) = w.failed.iter().position(|f| f.0 == group) {
                let (_, code, why, left) = &mut w.failed[i];
                let err = group_failed(*code, why);
                *left -= 1;
                if *left == 0 {
                    w.failed.remove(i);
                }
                return Err(err);
            }
            return Ok(out);
        }
        let commit = w.conn.execute_batch("COMMIT");
        let failure = match &commit {
            Ok(()) => None,
            Err(e) => {
                let code = match e {
                    rusqlite::Error::SqliteFailure(f, _) => f.extended_code,
                    _ => rusqlite::ffi::SQLITE_ERROR,
                };
                let why = e.to_string();
                let _ = w.conn.execute_batch("ROLLBACK");
                Some((code, why))
            }
        };
        w.end_group(group, failure, &self.generations);
        self.committed.notify_all();
        commit?;
        result
    }
}

impl WriterState {
    fn run<T>(
        &mut self,
        f: impl FnOnce(&Connection, &Uncommitted<'_>) -> Result<(T, Touched), StoreError>,
    ) -> Result<T, StoreError> {
        let WriterState {
            conn,
            touched,
            touched_all,
            ..
        } = self;
        let sp = conn.savepoint()?;
        // On an error the savepoint is dropped: rolled back to, nothing of this write stays.
        let (out, t) = f(
            &sp,
            &Uncommitted {
                touched,
                all: *touched_all,
            },
        )?;
        sp.commit()?;
        match t {
            Touched::Accounts(a) => touched.extend(a),
            Touched::All => *touched_all = true,
        }
        Ok(out)
    }

    /// After the group's COMMIT (or rollback): generations bumped if it committed, its
    /// followers told if it failed.
    fn end_group(&mut self, group: u64, failure: Option<(i32, String)>, generations: &Generations) {
        match failure {
            None if self.touched_all => generations.bump_all(),
            None => generations.bump(self.touched.iter().map(String::as_str)),
            Some((code, why)) => {
                if self.followers > 0 {
                    self.failed.push((group, code, why, self.followers));
                }
            }
        }
        self.touched.clear();
        self.touched_all = false;
        self.open = None;
        self.done = group;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use landmeter_proto::v1::{Fact, FactsBatch, ScanBegin, Store, fact::Body};

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{BatchOutcome, IngestStore};

    fn store(name: &str) -> SqliteStore {
        let dir =
            std::env::temp_dir().join(format!("landmeter-group-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        SqliteStore::open(&dir.join("db.sqlite")).unwrap()
    }

    fn bucket(account: &str, name: &str) -> Fact {
        Fact {
            account: account.into(),
            subject: name.into(),
            api_call: "s3:ListBuckets".into(),
            observed_at_ms: 1,
            body: Some(Body::Store(Store {
                provider: "aws".into(),
                service: "s3".into(),
                name: name.into(),
                region: "eu-west-3".into(),
                ..Store::default()
            })),
        }
    }

    fn begin(s: &SqliteStore, scan: &str, account: &str) {
        s.begin_scan(
            "t",
            "agent",
            &ScanBegin {
                scan_id: scan.into(),
                started_at_ms: 1,
                accounts: vec![account.into()],
                provider: "aws".into(),
                ..Default::default()
            },
        )
        .unwrap();
    }

    fn batch(scan: &str, seq: u64, facts: Vec<Fact>) -> FactsBatch {
        FactsBatch {
            scan_id: scan.into(),
            seq,
            facts,
        }
    }

    fn count(s: &SqliteStore, sql: &str) -> i64 {
        s.read(|c| Ok(c.query_row(sql, [], |r| r.get(0))?)).unwrap()
    }

    #[test]
    fn concurrent_writes_are_grouped_and_each_returns_after_its_commit() {
        let s = Arc::new(store("concurrent"));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    let (scan, account) = (format!("scan-{t}"), format!("acct-{t}"));
                    begin(&s, &scan, &account);
                    for seq in 1..=40u64 {
                        let facts = (0..5)
                            .map(|i| bucket(&account, &format!("b-{t}-{seq}-{i}")))
                            .collect();
                        let out = s.commit_batch("t", "agent", &batch(&scan, seq, facts));
                        assert_eq!(out.unwrap(), BatchOutcome::Committed);
                        // Returned: committed, so another connection sees it at once.
                        assert_eq!(s.last_seq("t", &scan).unwrap(), seq);
                    }
                    // A resend is a duplicate and stores nothing twice.
                    let again = s.commit_batch(
                        "t",
                        "agent",
                        &batch(&scan, 40, vec![bucket(&account, "other")]),
                    );
                    assert_eq!(again.unwrap(), BatchOutcome::Duplicate);
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count(&s, "SELECT COUNT(*) FROM facts"), 8 * 40 * 5);
        assert_eq!(count(&s, "SELECT COUNT(*) FROM batches"), 8 * 40);
    }

    #[test]
    fn a_failed_write_in_a_group_leaves_the_others_committed() {
        let s = Arc::new(store("failed"));
        begin(&s, "good", "acct");
        let threads: Vec<_> = (0..6)
            .map(|t| {
                let s = Arc::clone(&s);
                std::thread::spawn(move || {
                    for seq in 1..=30u64 {
                        if t % 2 == 0 {
                            // Never begun: refused, and nothing of it may stay behind.
                            let out = s.commit_batch(
                                "t",
                                "agent",
                                &batch(&format!("missing-{t}"), seq, vec![bucket("acct", "x")]),
                            );
                            assert!(matches!(out, Err(StoreError::UnknownScan(_))), "{out:?}");
                        } else {
                            let seq = seq + 30 * (t as u64 / 2);
                            let out = s.commit_batch(
                                "t",
                                "agent",
                                &batch("good", seq, vec![bucket("acct", &format!("b{seq}"))]),
                            );
                            assert_eq!(out.unwrap(), BatchOutcome::Committed);
                        }
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(count(&s, "SELECT COUNT(*) FROM batches"), 90);
        assert_eq!(count(&s, "SELECT COUNT(*) FROM facts"), 90);
        assert_eq!(
            count(&s, "SELECT COUNT(*) FROM facts WHERE subject = 'x'"),
            0
        );
    }
}
