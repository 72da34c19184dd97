//! Scans, batches and scan ends on SQLite, with the writer doing only the writing.
//!
//! Reading an account's facts and views, and the planner's work on them (interpreting,
//! diffing, encoding views and change events), is most of a scan's end, and none of it
//! writes. [`plan_finish`] does it on a read snapshot on a planner connection, outside the
//! writer lock, so the next batch commits meanwhile. The writer then applies the write sets
//! in the transaction that ends the scan, but only if nothing the snapshot read can have
//! changed since: every commit that touches an account's facts, stores or claims bumps that
//! account's generation (`group.rs`) after it committed, and a plan is used only if the
//! generations it read before its snapshot are unchanged. Otherwise the writer takes the
//! snapshot inside its own transaction and asks the planner again. Either way the result is
//! the same; the planner never knows which.

use std::collections::HashMap;

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};

use landmeter_proto::v1::{Fact, FactsBatch, ScanBegin, ScanEnd, StoreView};

use super::group::Generations;
use super::{
    SqliteStore, Touched, other_claimants, update_interpretation, upsert_seen, view_from_row,
};
use crate::store::{
    AccountFact, AccountPlanner, AccountSnapshot, AccountWrites, BatchOutcome, IngestStore,
    ScanOutcome, StoreError, fact_kind,
};

impl IngestStore for SqliteStore {
    fn begin_scan(&self, tenant: &str, agent: &str, begin: &ScanBegin) -> Result<(), StoreError> {
        let providers = if begin.providers.is_empty() {
            begin.provider.clone()
        } else {
            begin.providers.join(",")
        };
        self.write(|tx| match scan_owner(tx, tenant, &begin.scan_id)? {
            Some(a) if a == agent => Ok(()),
            Some(_) => Err(StoreError::ScanOwnedElsewhere {
                scan_id: begin.scan_id.clone(),
            }),
            None => {
                tx.execute(
                    "INSERT INTO scans (tenant, scan_id, agent, provider, accounts, started_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        tenant,
                        begin.scan_id,
                        agent,
                        providers,
                        begin.accounts.join(","),
                        begin.started_at_ms
                    ],
                )?;
                Ok(())
            }
        })
    }

    fn last_seq(&self, tenant: &str, scan_id: &str) -> Result<u64, StoreError> {
        self.read(|c| {
            let seq: Option<i64> = c.query_row(
                "SELECT MAX(seq) FROM batches WHERE tenant = ?1 AND scan_id = ?2",
                params![tenant, scan_id],
                |r| r.get(0),
            )?;
            Ok(seq.unwrap_or(0) as u64)
        })
    }

    fn commit_batch(
        &self,
        tenant: &str,
        agent: &str,
        batch: &FactsBatch,
    ) -> Result<BatchOutcome, StoreError> {
        // Encoded before taking the writer: the writer's time is the ingest's limit.
        let mut bodies = Vec::with_capacity(batch.facts.len() * 256);
        let mut ends = Vec::with_capacity(batch.facts.len());
        for fact in &batch.facts {
            fact.encode(&mut bodies)
                .expect("a Vec grows to hold any message");
            ends.push(bodies.len());
        }
        self.write_accounts(|tx, _| {
            check_owner(tx, tenant, agent, &batch.scan_id)?;
            let inserted = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO batches (tenant, scan_id, seq, facts) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![tenant, batch.scan_id, batch.seq as i64, batch.facts.len() as i64])?;
            if inserted == 0 {
                return Ok((BatchOutcome::Duplicate, Touched::Accounts(Vec::new())));
            }
            let mut accounts: Vec<&str> = batch.facts.iter().map(|f| f.account.as_str()).collect();
            accounts.sort_unstable();
            accounts.dedup();
            for &account in &accounts {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO account_claims (account, tenant, first_seen_ms)
                     VALUES (?1, ?2, CAST(strftime('%s','now') AS INTEGER) * 1000)",
                )?
                .execute(params![account, tenant])?;
            }
            let mut stmt = tx.prepare_cached(
                "INSERT INTO facts (tenant, account, subject, kind, scan_id, agent, api_call, observed_at_ms, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(tenant, account, subject, kind) DO UPDATE SET
                   scan_id = excluded.scan_id, agent = excluded.agent, api_call = excluded.api_call,
                   observed_at_ms = excluded.observed_at_ms, body = excluded.body",
            )?;
            let mut start = 0;
            for (fact, &end) in batch.facts.iter().zip(&ends) {
                let body = &bodies[start..end];
                start = end;
                stmt.execute(params![
                    tenant,
                    fact.account,
                    fact.subject,
                    fact_kind(fact),
                    batch.scan_id,
                    agent,
                    fact.api_call,
                    fact.observed_at_ms,
                    body,
                ])?;
            }
            let touched = accounts.into_iter().map(str::to_owned).collect();
            Ok((BatchOutcome::Committed, Touched::Accounts(touched)))
        })
    }

    fn finish_scan(
        &self,
        tenant: &str,
        agent: &str,
        end: &ScanEnd,
        now_ms: i64,
        planner: &dyn AccountPlanner,
    ) -> Result<ScanOutcome, StoreError> {
        // Planned outside the writer lock; a plan that went stale meanwhile is not used, and
        // one that could not be made leaves the work to the writer.
        let mut plan = match self.planners.lock() {
            Ok(mut conn) => plan_finish(&mut conn, &self.writer.generations, planner, tenant, end)
                .unwrap_or_else(|e| {
                    tracing::debug!(error = %e, scan = %end.scan_id, "scan end not planned");
                    None
                }),
            Err(_) => None,
        };
        self.write_accounts(|tx, uncommitted| {
            check_owner(tx, tenant, agent, &end.scan_id)?;
            let (accounts_column, ended): (String, Option<i64>) = tx.query_row(
                "SELECT accounts, ended_at_ms FROM scans WHERE tenant = ?1 AND scan_id = ?2",
                params![tenant, end.scan_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if ended.is_some() {
                let outcome = ScanOutcome {
                    already_finished: true,
                    ..ScanOutcome::default()
                };
                return Ok((outcome, Touched::Accounts(Vec::new())));
            }
            let (count, max): (i64, Option<i64>) = tx.query_row(
                "SELECT COUNT(*), MAX(seq) FROM batches WHERE tenant = ?1 AND scan_id = ?2",
                params![tenant, end.scan_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            if count as u64 != end.batches || max.unwrap_or(0) as u64 != end.batches {
                return Err(StoreError::MissingBatches {
                    scan_id: end.scan_id.clone(),
                    declared: end.batches,
                    committed: count as u64,
                });
            }
            let accounts = finish_accounts(&accounts_column, end);
            if plan.as_ref().is_some_and(|p| {
                !p.still_valid(&accounts_column, &accounts, &self.writer.generations)
                    || uncommitted.touches(&accounts)
            }) {
                tracing::debug!(scan = %end.scan_id, "scan end planned on a stale snapshot: redone");
                plan = None;
            }
            let mut outcome = ScanOutcome::default();
            for account in &accounts {
                let writes = match plan.as_mut().and_then(|p| p.accounts.remove(account)) {
                    Some(planned) => planned.writes,
                    None => plan_in(tx, planner, tenant, account)?,
                };
                apply(tx, tenant, account, Some(&end.scan_id), now_ms, writes, &mut outcome)?;
            }
            tx.execute(
                "UPDATE scans SET ended_at_ms = ?3, batches = ?4, coverage = ?5
                 WHERE tenant = ?1 AND scan_id = ?2",
                params![
                    tenant,
                    end.scan_id,
                    end.ended_at_ms,
                    end.batches as i64,
                    coverage_column(end)
                ],
            )?;
            Ok((outcome, Touched::Accounts(accounts)))
        })
    }

    fn reinterpret_all(&self, planner: &dyn AccountPlanner) -> Result<usize, StoreError> {
        self.write_accounts(|tx, _| {
            let pairs: Vec<(String, String)> = {
                let mut stmt = tx.prepare("SELECT DISTINCT tenant, account FROM facts")?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?
            };
            let mut outcome = ScanOutcome::default();
            let mut n = 0;
            for (tenant, account) in pairs {
                let writes = plan_in(tx, planner, &tenant, &account)?;
                n += writes.reinterpreted.len();
                apply(tx, &tenant, &account, None, 0, writes, &mut outcome)?;
            }
            Ok((n, Touched::All))
        })
    }

    fn interpretation_fingerprint(&self) -> Result<Option<String>, StoreError> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT value FROM meta WHERE key = 'interpretation'",
                [],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    fn set_interpretation_fingerprint(&self, fingerprint: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('interpretation', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [fingerprint],
            )?;
            Ok(())
        })
    }
}

fn scan_owner(tx: &Connection, tenant: &str, scan_id: &str) -> Result<Option<String>, StoreError> {
    Ok(tx
        .prepare_cached("SELECT agent FROM scans WHERE tenant = ?1 AND scan_id = ?2")?
        .query_row(params![tenant, scan_id], |r| r.get(0))
        .optional()?)
}

/// The scan exists and `agent` began it.
fn check_owner(
    tx: &Connection,
    tenant: &str,
    agent: &str,
    scan_id: &str,
) -> Result<(), StoreError> {
    match scan_owner(tx, tenant, scan_id)? {
        None => Err(StoreError::UnknownScan(scan_id.to_owned())),
        Some(a) if a != agent => Err(StoreError::ScanOwnedElsewhere {
            scan_id: scan_id.to_owned(),
        }),
        Some(_) => Ok(()),
    }
}

/// The accounts a scan's end covers: those it began with, then any only its coverage names.
fn finish_accounts(accounts_column: &str, end: &ScanEnd) -> Vec<String> {
    let mut accounts: Vec<String> = accounts_column
        .split(',')
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    for c in &end.coverage {
        if !accounts.contains(&c.account) {
            accounts.push(c.account.clone());
        }
    }
    accounts
}

/// The scans table's coverage column: one line per account.
fn coverage_column(end: &ScanEnd) -> String {
    let lines: Vec<String> = end
        .coverage
        .iter()
        .map(|c| {
            format!(
                "{}:{}:{}:{}:{}",
                c.account,
                if c.complete { "complete" } else { "incomplete" },
                c.stores_seen,
                c.gaps,
                c.reason
            )
        })
        .collect();
    lines.join("\n")
}

/// Everything stored about one account: its facts (with kind and scan) and its views.
fn read_account(
    conn: &Connection,
    tenant: &str,
    account: &str,
) -> Result<(Vec<AccountFact>, Vec<StoreView>, bool), StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT kind, scan_id, body FROM facts WHERE tenant = ?1 AND account = ?2",
    )?;
    let mut rows = stmt.query(params![tenant, account])?;
    let mut facts = Vec::new();
    while let Some(r) = rows.next()? {
        let body = r.get_ref(2)?.as_blob().map_err(rusqlite::Error::from)?;
        facts.push(AccountFact {
            kind: r.get(0)?,
            scan_id: r.get(1)?,
            fact: Fact::decode(body)?,
        });
    }
    drop(rows);
    let views: Vec<StoreView> = conn
        .prepare_cached(
            "SELECT view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id FROM stores
             WHERE tenant = ?1 AND account = ?2",
        )?
        .query_map(params![tenant, account], view_from_row)?
        .map(|r| r.map_err(StoreError::from).and_then(|v| v))
        .collect::<Result<_, _>>()?;
    let claimed = !other_claimants(conn, tenant, account)?.is_empty();
    Ok((facts, views, claimed))
}

/// The region of a store of the tenant by name, present stores first.
fn known_region(conn: &Connection, tenant: &str, account: &str, name: &str) -> Option<String> {
    conn.prepare_cached(
        "SELECT region FROM stores
         WHERE tenant = ?1 AND account = ?2 AND name = ?3 AND region <> '' AND gone_at_ms IS NULL
         LIMIT 1",
    )
    .and_then(|mut s| {
        s.query_row(params![tenant, account, name], |r| r.get(0))
            .optional()
    })
    .ok()
    .flatten()
}

/// The planner's writes for one account, on the writer's own transaction.
fn plan_in(
    tx: &Connection,
    planner: &dyn AccountPlanner,
    tenant: &str,
    account: &str,
) -> Result<AccountWrites, StoreError> {
    let (facts, views, claimed) = read_account(tx, tenant, account)?;
    let region = |account: &str, name: &str| known_region(tx, tenant, account, name);
    Ok(planner.plan(AccountSnapshot {
        tenant,
        account,
        facts,
        views,
        claimed_by_other_tenant: claimed,
        known_region: &region,
    }))
}

/// Writes one account's write set; adds what it did to `outcome`. `scan_id` is None for a
/// re-interpretation (no store is seen then).
fn apply(
    tx: &Connection,
    tenant: &str,
    account: &str,
    scan_id: Option<&str>,
    now_ms: i64,
    writes: AccountWrites,
    outcome: &mut ScanOutcome,
) -> Result<(), StoreError> {
    if !writes.superseded.is_empty() {
        let mut delete = tx.prepare_cached(
            "DELETE FROM facts WHERE tenant = ?1 AND account = ?2 AND subject = ?3 AND kind = ?4",
        )?;
        for (subject, kind) in &writes.superseded {
            delete.execute(params![tenant, account, subject, kind])?;
        }
    }
    if let Some(scan_id) = scan_id {
        for s in &writes.seen {
            upsert_seen(tx, &s.view, &s.bytes, now_ms, scan_id)?;
        }
        outcome.stores_interpreted += writes.seen.len();
    }
    for r in &writes.reinterpreted {
        update_interpretation(tx, &r.view, &r.bytes)?;
    }
    if !writes.gone.is_empty() {
        let mut mark = tx.prepare_cached(
            "UPDATE stores SET gone_at_ms = ?3 WHERE tenant = ?1 AND id = ?2 AND gone_at_ms IS NULL",
        )?;
        for id in &writes.gone {
            outcome.stores_gone += mark.execute(params![tenant, id, now_ms])?;
        }
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO changes (tenant, store_id, at_ms, scan_id, event) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for c in writes.changes {
        let mut event = c.event;
        insert.execute(params![
            event.tenant,
            event.store_id,
            event.at_ms,
            event.scan_id,
            c.bytes
        ])?;
        // The id is assigned by the insert, after the event was encoded.
        event.id = tx.last_insert_rowid();
        outcome.changes.push(event);
    }
    Ok(())
}

/// A scan end's write sets, worked out on a snapshot.
pub(super) struct ScanPlan {
    /// The scan's `accounts` column as the snapshot had it.
    accounts_column: String,
    accounts: HashMap<String, PlannedAccount>,
}

struct PlannedAccount {
    generation: u64,
    writes: AccountWrites,
}

impl ScanPlan {
    /// The plan of every account, if it still describes the database: same accounts, and no
    /// commit touched any of them since the snapshot. Called under the writer lock.
    fn still_valid(
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
}

/// Works out a scan's end on a snapshot of `conn`. None when it cannot be planned (scan
/// unknown or ended: the writer answers that) or should not be (the planner asked about
/// stores of other accounts, which the generations do not cover).
fn plan_finish(
    conn: &mut Connection,
    generations: &Generations,
    planner: &dyn AccountPlanner,
    tenant: &str,
    end: &ScanEnd,
) -> Result<Option<ScanPlan>, StoreError> {
    // The accounts first (the column never changes once written), then the generations,
    // then the snapshot: a commit the snapshot misses bumped its slot after we read it.
    let Some(accounts_column) = open_scan_accounts(conn, tenant, &end.scan_id)? else {
        return Ok(None);
    };
    let accounts = finish_accounts(&accounts_column, end);
    let before: Vec<u64> = accounts.iter().map(|a| generations.get(a)).collect();
    let tx = conn.transaction()?;
    if open_scan_accounts(&tx, tenant, &end.scan_id)?.as_deref() != Some(accounts_column.as_str()) {
        return Ok(None);
    }
    let mut plans = HashMap::with_capacity(accounts.len());
    for (account, generation) in accounts.into_iter().zip(before) {
        let (facts, views, claimed) = read_account(&tx, tenant, &account)?;
        let consulted_elsewhere = std::cell::Cell::new(false);
        let region = |_: &str, _: &str| {
            consulted_elsewhere.set(true);
            None
        };
        let writes = planner.plan(AccountSnapshot {
            tenant,
            account: &account,
            facts,
            views,
            claimed_by_other_tenant: claimed,
            known_region: &region,
        });
        if consulted_elsewhere.get() {
            return Ok(None);
        }
        plans.insert(account, PlannedAccount { generation, writes });
    }
    tx.finish()?;
    Ok(Some(ScanPlan {
        accounts_column,
        accounts: plans,
    }))
}

/// The scan's accounts column while it has not ended.
fn open_scan_accounts(
    conn: &Connection,
    tenant: &str,
    scan_id: &str,
) -> Result<Option<String>, StoreError> {
    let row: Option<(String, Option<i64>)> = conn
        .prepare_cached(
            "SELECT accounts, ended_at_ms FROM scans WHERE tenant = ?1 AND scan_id = ?2",
        )?
        .query_row(params![tenant, scan_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.and_then(|(accounts, ended)| ended.is_none().then_some(accounts)))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use landmeter_proto::v1::{AccountCoverage, ChangeEvent, ChangeKind, Store, fact::Body};

    use super::*;
    use crate::store::{EncodedView, PendingChange, QueryStore, Scope};

    /// A stand-in for the scan-end use case (which lives above the store): a store per Store
    /// fact of this scan, named after it, gone marks for present stores a complete scan did
    /// not see, an event per write. It counts its calls.
    struct Planner {
        scan_id: String,
        complete: bool,
        calls: AtomicUsize,
    }

    impl Planner {
        fn new(scan_id: &str) -> Self {
            Self {
                scan_id: scan_id.into(),
                complete: true,
                calls: AtomicUsize::new(0),
            }
        }
    }

    fn event(kind: ChangeKind, v: &StoreView) -> PendingChange {
        PendingChange::new(ChangeEvent {
            tenant: v.tenant.clone(),
            store_id: v.id.clone(),
            kind: kind as i32,
            scan_id: "test".into(),
            store: Some(v.clone()),
            ..ChangeEvent::default()
        })
    }

    impl AccountPlanner for Planner {
        fn plan(&self, s: AccountSnapshot<'_>) -> AccountWrites {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut w = AccountWrites::default();
            let mut seen = Vec::new();
            for f in &s.facts {
                if f.scan_id != self.scan_id {
                    continue;
                }
                if let Some(Body::Store(st)) = &f.fact.body {
                    let v = StoreView {
                        id: format!("{}:{}", s.account, st.name),
                        tenant: s.tenant.into(),
                        account: s.account.into(),
                        name: st.name.clone(),
                        region: st.region.clone(),
                        ..StoreView::default()
                    };
                    if !s
                        .views
                        .iter()
                        .any(|p| p.id == v.id && p.gone_at_ms.is_none())
                    {
                        w.changes.push(event(ChangeKind::Added, &v));
                    }
                    seen.push(v.id.clone());
                    w.seen.push(EncodedView::new(v));
                }
            }
            if self.complete {
                for v in s.views.iter().filter(|v| v.gone_at_ms.is_none()) {
                    if !seen.contains(&v.id) {
                        w.gone.push(v.id.clone());
                        w.changes.push(event(ChangeKind::Gone, v));
                    }
                }
            }
            w
        }
    }

    fn store(name: &str) -> SqliteStore {
        let dir =
            std::env::temp_dir().join(format!("landmeter-ingest-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        SqliteStore::open(&dir.join("db.sqlite")).unwrap()
    }

    fn bucket(name: &str) -> Fact {
        Fact {
            account: "acct".into(),
            subject: name.into(),
            api_call: "list".into(),
            observed_at_ms: 1,
            body: Some(Body::Store(Store {
                name: name.into(),
                region: "r".into(),
                ..Store::default()
            })),
        }
    }

    fn begin(s: &SqliteStore, scan: &str) {
        let begin = ScanBegin {
            scan_id: scan.into(),
            accounts: vec!["acct".into()],
            ..ScanBegin::default()
        };
        s.begin_scan("t", "agent", &begin).unwrap();
    }

    fn commit(s: &SqliteStore, scan: &str, names: &[&str]) {
        let batch = FactsBatch {
            scan_id: scan.into(),
            seq: 1,
            facts: names.iter().map(|n| bucket(n)).collect(),
        };
        s.commit_batch("t", "agent", &batch).unwrap();
    }

    fn end(scan: &str) -> ScanEnd {
        ScanEnd {
            scan_id: scan.into(),
            batches: 1,
            coverage: vec![AccountCoverage {
                account: "acct".into(),
                complete: true,
                ..AccountCoverage::default()
            }],
            ..ScanEnd::default()
        }
    }

    fn names(s: &SqliteStore) -> Vec<String> {
        let (views, _) = s
            .list_stores(&Scope::AllTenants, &Default::default(), 100, "")
            .unwrap();
        views.into_iter().map(|v| v.name).collect()
    }

    #[test]
    fn a_plan_is_stale_once_a_commit_touched_its_account_and_the_writer_plans_again() {
        let s = store("stale");
        begin(&s, "s1");
        commit(&s, "s1", &["a"]);
        let planner = Planner::new("s1");
        let plan = {
            let mut conn = s.planners.lock().unwrap();
            plan_finish(&mut conn, &s.writer.generations, &planner, "t", &end("s1"))
                .unwrap()
                .expect("a plan")
        };
        let accounts = vec!["acct".to_owned()];
        assert!(plan.still_valid("acct", &accounts, &s.writer.generations));
        // Another scan's batch for the same account, committed after the snapshot.
        begin(&s, "s2");
        assert!(plan.still_valid("acct", &accounts, &s.writer.generations));
        commit(&s, "s2", &["b"]);
        assert!(!plan.still_valid("acct", &accounts, &s.writer.generations));

        // Through the trait: planned once outside the writer, and used (one call).
        let out = s
            .finish_scan("t", "agent", &end("s1"), 5, &planner)
            .unwrap();
        assert_eq!(out.stores_interpreted, 1);
        assert_eq!(out.changes.len(), 1);
        assert!(out.changes[0].id > 0);
        assert_eq!(
            planner.calls.load(Ordering::SeqCst),
            2,
            "one manual plan, one real"
        );
        let p2 = Planner::new("s2");
        let out = s.finish_scan("t", "agent", &end("s2"), 6, &p2).unwrap();
        // s2 did not see "a": complete, so "a" is gone now, with its change recorded.
        assert_eq!((out.stores_interpreted, out.stores_gone), (1, 1));
        assert_eq!(names(&s), ["b"]);
        let ids: Vec<i64> = s
            .list_changes(&Scope::AllTenants, 0, 0, 100, &Default::default())
            .unwrap()
            .iter()
            .map(|c| c.id)
            .collect();
        assert_eq!(ids.len(), 3);
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    }

    #[test]
    fn the_planned_and_the_writer_only_end_write_the_same_map() {
        // The same scans on two databases; in one the planners are unusable (poisoned), so
        // the writer asks the planner on its own snapshot, as it does when a plan is stale.
        let run = |s: &SqliteStore| {
            for (n, batch) in [["a", "b", "c"], ["a", "c", "d"]].iter().enumerate() {
                let scan = format!("s{n}");
                begin(s, &scan);
                commit(s, &scan, batch);
                let planner = Planner::new(&scan);
                s.finish_scan("t", "agent", &end(&scan), 10 + n as i64, &planner)
                    .unwrap();
            }
            let views = s
                .list_stores(&Scope::AllTenants, &Default::default(), 100, "")
                .unwrap()
                .0;
            let changes = s
                .list_changes(&Scope::AllTenants, 0, 0, 100, &Default::default())
                .unwrap();
            (views, changes)
        };
        let planned = run(&store("planned"));
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
        let serial = run(&serial_store);
        assert_eq!(planned, serial);
        assert_eq!(planned.0.len(), 3, "b is gone, so not listed");
        assert_eq!(planned.1.len(), 5, "a b c added, d added, b gone");
    }
}
