//! Finishing a scan with the writer doing only the writing.
//!
//! Reading an account's facts, decoding them, interpreting the stores, reading and diffing
//! their previous views and encoding the new views and change events is most of a scan's
//! end, and none of it writes. [`plan_finish`] does it on a read snapshot on its own
//! connection, outside the writer lock, so the next batch commits meanwhile. The writer
//! then applies the plan in the transaction that ends the scan, but only if nothing the plan
//! read can have changed since: every commit that touches an account's facts, stores or
//! claims bumps that account's [`Generations`] slot after it committed (under the writer
//! lock), and the plan is used only if the slots it read before its snapshot are unchanged.
//! Otherwise the writer does the work itself, as before. Either way the result is the same.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex};

use prost::Message;
use rusqlite::{Connection, params};

use landmeter_proto::v1::{ChangeEvent, Fact, ScanEnd, StoreView, fact::Body};

use super::{Touched, current_view, other_claimants, upsert_seen};
use crate::map::Interpreter;
use crate::store::{ScanOutcome, StoreError};

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

    fn get(&self, account: &str) -> u64 {
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

/// What ending a scan writes, worked out on a snapshot.
pub(super) struct ScanPlan {
    /// The scan's `accounts` column as the snapshot had it.
    accounts_column: String,
    accounts: HashMap<String, AccountPlan>,
}

pub(super) struct AccountPlan {
    generation: u64,
    /// (subject, kind) of older facts this scan's observations supersede.
    superseded: Vec<(String, String)>,
    stores: Vec<PlannedStore>,
}

struct PlannedStore {
    view: StoreView,
    view_bytes: Vec<u8>,
    /// The change event (its id assigned by the insert) and its encoding.
    change: Option<(ChangeEvent, Vec<u8>)>,
}

impl ScanPlan {
    /// The plan of every account, if it still describes the database: same accounts, and no
    /// commit touched any of them since the snapshot. Called under the writer lock.
    pub(super) fn still_valid(
        &self,
        accounts_column: &str,
        accounts: &[String],
        generations: &Generations,
    ) -> bool {
        self.accounts_column == accounts_column
            && accounts.len() == self.accounts.len()
            && accounts.iter().all(|a| {
                self.accounts
                    .get(a)
                    .is_some_and(|p| generations.get(a) == p.generation)
            })
    }

    pub(super) fn take(&mut self, account: &str) -> Option<AccountPlan> {
        self.accounts.remove(account)
    }
}

impl AccountPlan {
    /// Writes the plan: drops the superseded facts, upserts the seen stores, records changes.
    pub(super) fn apply(
        self,
        tx: &Connection,
        tenant: &str,
        account: &str,
        scan_id: &str,
        now_ms: i64,
        outcome: &mut ScanOutcome,
    ) -> Result<(), StoreError> {
        if !self.superseded.is_empty() {
            let mut delete = tx.prepare_cached(
                "DELETE FROM facts WHERE tenant = ?1 AND account = ?2 AND subject = ?3 AND kind = ?4",
            )?;
            for (subject, kind) in &self.superseded {
                delete.execute(params![tenant, account, subject, kind])?;
            }
        }
        let mut insert_change = tx.prepare_cached(
            "INSERT INTO changes (tenant, store_id, at_ms, scan_id, event) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for s in self.stores {
            upsert_seen(tx, &s.view, &s.view_bytes, now_ms, scan_id)?;
            outcome.stores_interpreted += 1;
            if let Some((mut event, bytes)) = s.change {
                insert_change.execute(params![
                    event.tenant,
                    event.store_id,
                    event.at_ms,
                    event.scan_id,
                    bytes
                ])?;
                event.id = tx.last_insert_rowid();
                outcome.changes.push(event);
            }
        }
        Ok(())
    }
}

/// Works out a scan's end on a snapshot of `conn`. None when it cannot be planned (scan
/// unknown or ended: the writer answers that) or should not be (the interpretation needed
/// stores of other accounts, which the generations do not cover).
pub(super) fn plan_finish(
    conn: &mut Connection,
    generations: &Generations,
    interpreter: &Interpreter,
    tenant: &str,
    end: &ScanEnd,
    now_ms: i64,
) -> Result<Option<ScanPlan>, StoreError> {
    // The accounts first (the column never changes once written), then the generations,
    // then the snapshot: a commit the snapshot misses bumped its slot after we read it.
    let Some(accounts_column) = scan_accounts(conn, tenant, &end.scan_id)? else {
        return Ok(None);
    };
    let accounts = super::finish_accounts(&accounts_column, end);
    let generations: Vec<u64> = accounts.iter().map(|a| generations.get(a)).collect();
    let tx = conn.transaction()?;
    if scan_accounts(&tx, tenant, &end.scan_id)?.as_deref() != Some(accounts_column.as_str()) {
        return Ok(None);
    }
    let mut plans = HashMap::with_capacity(accounts.len());
    for (account, generation) in accounts.into_iter().zip(generations) {
        let Some(plan) = plan_account(&tx, interpreter, tenant, &account, end, now_ms)? else {
            return Ok(None);
        };
        plans.insert(account, AccountPlan { generation, ..plan });
    }
    tx.finish()?;
    Ok(Some(ScanPlan {
        accounts_column,
        accounts: plans,
    }))
}

/// The scan's accounts column while it has not ended.
fn scan_accounts(
    conn: &Connection,
    tenant: &str,
    scan_id: &str,
) -> Result<Option<String>, StoreError> {
    use rusqlite::OptionalExtension;
    let row: Option<(String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT accounts, ended_at_ms FROM scans WHERE tenant = ?1 AND scan_id = ?2",
        )?
        .query_row(params![tenant, scan_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(accounts, ended)| ended.is_none().then_some(accounts)))
}

fn plan_account(
    conn: &Connection,
    interpreter: &Interpreter,
    tenant: &str,
    account: &str,
    end: &ScanEnd,
    now_ms: i64,
) -> Result<Option<AccountPlan>, StoreError> {
    let scan_id = end.scan_id.as_str();
    let mut stmt = conn.prepare_cached(
        "SELECT subject, kind, scan_id = ?3, body FROM facts WHERE tenant = ?1 AND account = ?2",
    )?;
    let mut rows = stmt.query(params![tenant, account, scan_id])?;
    let mut all: Vec<(String, String, bool, Fact)> = Vec::new();
    while let Some(r) = rows.next()? {
        let body = r.get_ref(3)?.as_blob().map_err(rusqlite::Error::from)?;
        all.push((r.get(0)?, r.get(1)?, r.get(2)?, Fact::decode(body)?));
    }
    drop(rows);
    // As the serial path's DELETE: a subject observed in this scan loses its older answers
    // (an old AccessDenied gap must not outlive today's successful answer).
    let observed: HashSet<&str> = all
        .iter()
        .filter(|(_, _, this, _)| *this)
        .map(|(s, ..)| s.as_str())
        .collect();
    let mut superseded = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut facts = Vec::with_capacity(all.len());
    let mut keep = Vec::with_capacity(all.len());
    for (subject, _, this, fact) in &all {
        keep.push(*this || !observed.contains(subject.as_str()));
        if *this && matches!(fact.body, Some(Body::Store(_))) {
            seen.insert(subject.clone());
        }
    }
    drop(observed);
    for ((subject, kind, _, fact), keep) in all.into_iter().zip(keep) {
        if keep {
            facts.push(fact);
        } else {
            superseded.push((subject, kind));
        }
    }

    let consulted_elsewhere = std::cell::Cell::new(false);
    let known_region = |_: &str| {
        consulted_elsewhere.set(true);
        None
    };
    let claimed_elsewhere = !other_claimants(conn, tenant, account)?.is_empty();
    let views = interpreter.interpret_account(tenant, account, &facts, &known_region);
    if consulted_elsewhere.get() {
        return Ok(None);
    }
    let mut stores = Vec::with_capacity(seen.len());
    for mut view in views {
        if !seen.contains(view.name.as_str()) {
            continue;
        }
        view.account_claimed_by_other_tenant = claimed_elsewhere;
        let before = current_view(conn, tenant, &view.id)?;
        let view_bytes = view.encode_to_vec();
        let change = crate::map::changes::diff(before.as_ref(), &view).map(|(kind, changes)| {
            let mut after = crate::map::changes::history_view(&view);
            after.last_seen_ms = now_ms;
            after.first_seen_ms = before.as_ref().map_or(now_ms, |b| b.first_seen_ms);
            after.last_scan_id = scan_id.to_owned();
            let event = ChangeEvent {
                id: 0,
                tenant: after.tenant.clone(),
                store_id: after.id.clone(),
                at_ms: now_ms,
                scan_id: scan_id.to_owned(),
                kind: kind as i32,
                changes,
                store: Some(after),
            };
            let bytes = event.encode_to_vec();
            (event, bytes)
        });
        stores.push(PlannedStore {
            view,
            view_bytes,
            change,
        });
    }
    Ok(Some(AccountPlan {
        generation: 0,
        superseded,
        stores,
    }))
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
    StoreError::Database(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(code),
        Some(format!(
            "the transaction this write was grouped into failed: {why}"
        )),
    ))
}

fn error_code(e: &StoreError) -> i32 {
    match e {
        StoreError::Database(rusqlite::Error::SqliteFailure(f, _)) => f.extended_code,
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

    use landmeter_proto::v1::{AccountCoverage, FactsBatch, ScanBegin, Store};

    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::store::{BatchOutcome, MapStore, Scope};

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

    fn end(scan: &str, account: &str, batches: u64) -> ScanEnd {
        ScanEnd {
            scan_id: scan.into(),
            ended_at_ms: 2,
            batches,
            coverage: vec![AccountCoverage {
                account: account.into(),
                complete: true,
                ..AccountCoverage::default()
            }],
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

    #[test]
    fn a_plan_is_stale_once_a_commit_touched_its_account() {
        let s = store("stale");
        let (interpreter, _) =
            crate::server::build_interpreter(&crate::config::CollectorConfig::default()).unwrap();
        begin(&s, "s1", "acct");
        s.commit_batch("t", "agent", &batch("s1", 1, vec![bucket("acct", "a")]))
            .unwrap();
        let e = end("s1", "acct", 1);
        let accounts = vec!["acct".to_owned()];
        let plan = {
            let mut conn = s.planners.lock().unwrap();
            plan_finish(&mut conn, &s.writer.generations, &interpreter, "t", &e, 5)
                .unwrap()
                .expect("a plan")
        };
        assert!(plan.still_valid("acct", &accounts, &s.writer.generations));
        // Another agent's batch for the same account, committed after the snapshot.
        begin(&s, "s2", "acct");
        assert!(plan.still_valid("acct", &accounts, &s.writer.generations));
        s.commit_batch("t", "agent", &batch("s2", 1, vec![bucket("acct", "b")]))
            .unwrap();
        assert!(!plan.still_valid("acct", &accounts, &s.writer.generations));

        // The scan's end redone by the writer sees both buckets' facts; only "a" was seen
        // by s1, so only it is interpreted, and nothing is marked gone that s2 reported.
        let out = s.finish_scan("t", &e, &interpreter, 5).unwrap();
        assert_eq!(out.stores_interpreted, 1);
        assert_eq!(out.changes.len(), 1);
        assert!(out.changes[0].id > 0);
        let out = s
            .finish_scan("t", &end("s2", "acct", 1), &interpreter, 6)
            .unwrap();
        assert_eq!(out.stores_interpreted, 1);
        // s2 did not see "a": complete, so "a" is gone now, with its change recorded.
        assert_eq!(out.stores_gone, 1);
        let changes = s
            .list_changes(&Scope::AllTenants, 0, 0, 100, &Default::default())
            .unwrap();
        // a added, b added, a gone: ids in commit order.
        let ids: Vec<i64> = changes.iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    #[test]
    fn the_planned_and_the_serial_end_write_the_same_map() {
        // Two databases, the same scans; in one the planner is unusable (its lock poisoned),
        // so the writer does all the work itself, as it does when a plan went stale.
        let (interpreter, _) =
            crate::server::build_interpreter(&crate::config::CollectorConfig::default()).unwrap();
        let run = |s: &SqliteStore, _serial: bool| {
            for (n, names) in [["a", "b", "c"], ["a", "c", "d"]].iter().enumerate() {
                let scan = format!("s{n}");
                begin(s, &scan, "acct");
                let mut facts: Vec<Fact> = names.iter().map(|b| bucket("acct", b)).collect();
                // An older gap superseded by today's answer.
                facts.push(Fact {
                    body: Some(Body::Gap(landmeter_proto::v1::Gap {
                        call: "s3:GetBucketTagging".into(),
                        ..Default::default()
                    })),
                    ..bucket("acct", if n == 0 { "a" } else { "zz" })
                });
                s.commit_batch("t", "agent", &batch(&scan, 1, facts))
                    .unwrap();
                let e = end(&scan, "acct", 1);
                s.finish_scan("t", &e, &interpreter, 10 + n as i64).unwrap();
            }
            let views = s
                .list_stores(&Scope::AllTenants, &Default::default(), 100, "")
                .unwrap()
                .0;
            let changes = s
                .list_changes(&Scope::AllTenants, 0, 0, 100, &Default::default())
                .unwrap();
            let facts = count(s, "SELECT COUNT(*) FROM facts");
            (views, changes, facts)
        };
        let planned = run(&store("planned"), false);
        let serial_store = store("serial");
        std::thread::scope(|t| {
            t.spawn(|| {
                let _held = serial_store.planners.conns.each_ref().map(|c| c.lock());
                panic!("poisoning the planners on purpose");
            })
            .join()
            .unwrap_err();
        });
        assert!(serial_store.planners.lock().is_err());
        let serial = run(&serial_store, true);
        assert_eq!(planned, serial);
        assert_eq!(planned.0.len(), 3, "b is gone, so not listed");
        assert!(planned.1.len() >= 5, "{:?}", planned.1.len());
    }
}
