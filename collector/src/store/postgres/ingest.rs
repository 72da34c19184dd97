//! Scans, batches and scan ends on PostgreSQL.
//!
//! A batch is one transaction of a few statements: its dedupe marker, the generations of the
//! accounts it touches (bumped first, so the row lock orders it against scan ends of those
//! accounts), new claims, and all its facts as one multi-row upsert (`unnest` of arrays).
//!
//! A scan end is planned on a REPEATABLE READ snapshot, outside any write, with the
//! generation of each account read in that snapshot. The write transaction then locks the
//! scan row and applies the plan only if `UPDATE account_generations SET generation =
//! generation + 1 WHERE ... AND generation = $planned` matches every account: nothing changed
//! them since the snapshot, and the row locks keep it so until the commit. Otherwise it
//! plans again inside the write transaction, after taking those locks. Every writer of an
//! account's facts, stores or claims bumps its generation before writing, so this check is
//! the database's, shared by any number of collectors; no advisory lock is used.

use std::collections::{BTreeMap, HashMap};

use deadpool_postgres::Transaction;
use prost::Message;
use tokio_postgres::IsolationLevel;

use landmeter_proto::v1::{Fact, FactsBatch, ScanBegin, ScanEnd, StoreView};

use super::{
    OTHER_CLAIMANTS, PostgresStore, UNNEST_VIEWS, VIEW_COLUMNS, ViewColumns, view_from_row,
};
use crate::store::{
    AccountFact, AccountPlanner, AccountSnapshot, AccountWrites, BatchOutcome, IngestStore,
    ScanOutcome, StoreError, fact_kind,
};

impl IngestStore for PostgresStore {
    fn begin_scan(&self, tenant: &str, agent: &str, begin: &ScanBegin) -> Result<(), StoreError> {
        let providers = if begin.providers.is_empty() {
            begin.provider.clone()
        } else {
            begin.providers.join(",")
        };
        let accounts = begin.accounts.join(",");
        let mut client = self.client()?;
        self.retrying(|| {
            let tx = self.block(client.transaction())?;
            // Inserted unless it exists; the owner is read back either way (a concurrent
            // begin of the same scan waits for the first and then sees its owner).
            self.block(tx.execute(
                "INSERT INTO scans (tenant, scan_id, agent, provider, accounts, started_at_ms)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant, scan_id) DO NOTHING",
                &[
                    &tenant,
                    &begin.scan_id,
                    &agent,
                    &providers,
                    &accounts,
                    &begin.started_at_ms,
                ],
            ))?;
            let owner = self.scan_owner(&tx, tenant, &begin.scan_id)?;
            if owner.as_deref() != Some(agent) {
                return Err(StoreError::ScanOwnedElsewhere {
                    scan_id: begin.scan_id.clone(),
                });
            }
            self.block(tx.commit())?;
            Ok(())
        })
    }

    fn last_seq(&self, tenant: &str, scan_id: &str) -> Result<u64, StoreError> {
        let rows = self.query(
            "SELECT MAX(seq) FROM batches WHERE tenant = $1 AND scan_id = $2",
            &[&tenant, &scan_id],
        )?;
        let seq: Option<i64> = rows.first().and_then(|r| r.get(0));
        Ok(seq.unwrap_or(0) as u64)
    }

    fn commit_batch(
        &self,
        tenant: &str,
        agent: &str,
        batch: &FactsBatch,
    ) -> Result<BatchOutcome, StoreError> {
        // One row per (account, subject, kind), the last fact winning as a row-by-row upsert
        // would: one statement may not update the same row twice.
        let mut latest: BTreeMap<(&str, &str, std::borrow::Cow<'static, str>), &Fact> =
            BTreeMap::new();
        for fact in &batch.facts {
            latest.insert((&fact.account, &fact.subject, fact_kind(fact)), fact);
        }
        let mut accounts: Vec<&str> = batch.facts.iter().map(|f| f.account.as_str()).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let mut columns = FactColumns::default();
        for ((account, subject, kind), fact) in &latest {
            columns.account.push(account);
            columns.subject.push(subject);
            columns.kind.push(kind);
            columns.api_call.push(&fact.api_call);
            columns.observed_at_ms.push(fact.observed_at_ms);
            columns.body.push(fact.encode_to_vec());
        }
        let now_ms = crate::clock::now_ms();
        let mut client = self.client()?;
        self.retrying(|| {
            let tx = self.block(client.transaction())?;
            self.check_owner(&tx, tenant, agent, &batch.scan_id)?;
            let inserted = self.block(tx.execute(
                &self.prepared(&tx, INSERT_BATCH)?,
                &[
                    &tenant,
                    &batch.scan_id,
                    &(batch.seq as i64),
                    &(batch.facts.len() as i64),
                ],
            ))?;
            if inserted == 0 {
                return Ok(BatchOutcome::Duplicate);
            }
            self.bump_generations(&tx, tenant, &accounts)?;
            let claimed = self.block(tx.query(
                &self.prepared(&tx, CLAIM_ACCOUNTS)?,
                &[&tenant, &accounts, &now_ms],
            ))?;
            if !claimed.is_empty() {
                // A new claimant changes the other tenants' snapshots of the account
                // (`claimed_by_other_tenant`): their plans of it go stale too.
                let new: Vec<String> = claimed.iter().map(|r| r.get(0)).collect();
                self.block(
                    tx.execute(&self.prepared(&tx, BUMP_OTHER_CLAIMANTS)?, &[&new, &tenant]),
                )?;
            }
            self.block(tx.execute(
                &self.prepared(&tx, UPSERT_FACTS)?,
                &[
                    &tenant,
                    &batch.scan_id,
                    &agent,
                    &columns.account,
                    &columns.subject,
                    &columns.kind,
                    &columns.api_call,
                    &columns.observed_at_ms,
                    &columns.body,
                ],
            ))?;
            self.block(tx.commit())?;
            Ok(BatchOutcome::Committed)
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
        let mut planned = self.plan_finish(planner, tenant, end).unwrap_or_else(|e| {
            tracing::debug!(error = %e, scan = %end.scan_id, "scan end not planned");
            None
        });
        let mut client = self.client()?;
        let outcome = self.retrying(|| {
            let tx = self.block(client.transaction())?;
            let row = self.block(tx.query_opt(
                "SELECT agent, accounts, ended_at_ms FROM scans
                 WHERE tenant = $1 AND scan_id = $2 FOR UPDATE",
                &[&tenant, &end.scan_id],
            ))?;
            let Some(row) = row else {
                return Err(StoreError::UnknownScan(end.scan_id.clone()));
            };
            if row.get::<_, String>(0) != agent {
                return Err(StoreError::ScanOwnedElsewhere {
                    scan_id: end.scan_id.clone(),
                });
            }
            let accounts_column: String = row.get(1);
            if row.get::<_, Option<i64>>(2).is_some() {
                return Ok(ScanOutcome {
                    already_finished: true,
                    ..ScanOutcome::default()
                });
            }
            let counts = self.block(tx.query_one(
                "SELECT COUNT(*), MAX(seq) FROM batches WHERE tenant = $1 AND scan_id = $2",
                &[&tenant, &end.scan_id],
            ))?;
            let (count, max): (i64, Option<i64>) = (counts.get(0), counts.get(1));
            if count as u64 != end.batches || max.unwrap_or(0) as u64 != end.batches {
                return Err(StoreError::MissingBatches {
                    scan_id: end.scan_id.clone(),
                    declared: end.batches,
                    committed: count as u64,
                });
            }
            let accounts = finish_accounts(&accounts_column, end);
            // A plan from an earlier attempt of this closure was used up or went stale.
            let plan = planned
                .take()
                .filter(|p| p.accounts_column == accounts_column);
            let mut plan = self.claim_accounts(&tx, tenant, &accounts, plan)?;
            if plan.is_none() {
                tracing::debug!(scan = %end.scan_id, "scan end planned on a stale snapshot: redone");
            }
            let mut outcome = ScanOutcome::default();
            let mut changes = Vec::new();
            for account in &accounts {
                let writes = match plan.as_mut().and_then(|p| p.accounts.remove(account)) {
                    Some(planned) => planned.writes,
                    None => self.plan_in(&tx, planner, tenant, account)?,
                };
                self.apply(
                    &tx,
                    tenant,
                    account,
                    Some(&end.scan_id),
                    now_ms,
                    writes,
                    &mut outcome,
                    &mut changes,
                )?;
            }
            self.record_changes(&tx, changes, &mut outcome)?;
            self.block(tx.execute(
                "UPDATE scans SET ended_at_ms = $3, batches = $4, coverage = $5
                 WHERE tenant = $1 AND scan_id = $2",
                &[
                    &tenant,
                    &end.scan_id,
                    &end.ended_at_ms,
                    &(end.batches as i64),
                    &coverage_column(end),
                ],
            ))?;
            self.block(tx.commit())?;
            Ok(outcome)
        })?;
        self.note_written(outcome.stores_interpreted as u64);
        Ok(outcome)
    }

    fn reinterpret_all(&self, planner: &dyn AccountPlanner) -> Result<usize, StoreError> {
        let mut client = self.client()?;
        self.retrying(|| {
            let tx = self.block(client.transaction())?;
            // Every account changes: every generation is bumped (and locked) first.
            self.block(tx.execute(
                "UPDATE account_generations SET generation = generation + 1",
                &[],
            ))?;
            let pairs: Vec<(String, String)> = self
                .block(tx.query(
                    "SELECT DISTINCT tenant, account FROM facts ORDER BY tenant, account",
                    &[],
                ))?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let mut outcome = ScanOutcome::default();
            let mut changes = Vec::new();
            let mut n = 0;
            for (tenant, account) in &pairs {
                let writes = self.plan_in(&tx, planner, tenant, account)?;
                n += writes.reinterpreted.len();
                self.apply(
                    &tx,
                    tenant,
                    account,
                    None,
                    0,
                    writes,
                    &mut outcome,
                    &mut changes,
                )?;
            }
            self.record_changes(&tx, changes, &mut outcome)?;
            self.block(tx.commit())?;
            Ok(n)
        })
    }

    fn interpretation_fingerprint(&self) -> Result<Option<String>, StoreError> {
        let rows = self.query("SELECT value FROM meta WHERE key = 'interpretation'", &[])?;
        Ok(rows.first().map(|r| r.get(0)))
    }

    fn set_interpretation_fingerprint(&self, fingerprint: &str) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO meta (key, value) VALUES ('interpretation', $1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&fingerprint],
        )?;
        Ok(())
    }
}

/// The batch's dedupe marker: no row inserted means a resend.
const INSERT_BATCH: &str =
    "INSERT INTO batches (tenant, scan_id, seq, facts) VALUES ($1, $2, $3, $4)
     ON CONFLICT DO NOTHING";

/// New claims of accounts by this tenant, returned.
const CLAIM_ACCOUNTS: &str = "INSERT INTO account_claims (tenant, account, first_seen_ms)
     SELECT $1, a, $3 FROM unnest($2::text[]) AS a
     ON CONFLICT DO NOTHING RETURNING account";

/// A new claimant changes the other tenants' snapshots of an account.
const BUMP_OTHER_CLAIMANTS: &str = "UPDATE account_generations SET generation = generation + 1
     WHERE account = ANY($1) AND tenant <> $2";

/// Every fact of a batch in one statement, the newest answer replacing the stored one.
const UPSERT_FACTS: &str =
    "INSERT INTO facts (tenant, account, subject, kind, scan_id, agent, api_call,
     observed_at_ms, body)
     SELECT $1, u.account, u.subject, u.kind, $2, $3, u.api_call, u.observed, u.body
     FROM unnest($4::text[], $5::text[], $6::text[], $7::text[], $8::int8[],
     $9::bytea[]) AS u(account, subject, kind, api_call, observed, body)
     ON CONFLICT (tenant, account, subject, kind) DO UPDATE SET
     scan_id = excluded.scan_id, agent = excluded.agent,
     api_call = excluded.api_call, observed_at_ms = excluded.observed_at_ms,
     body = excluded.body";

/// Facts of a batch, one array per column (see `commit_batch`).
#[derive(Default)]
struct FactColumns<'a> {
    account: Vec<&'a str>,
    subject: Vec<&'a str>,
    kind: Vec<&'a str>,
    api_call: Vec<&'a str>,
    observed_at_ms: Vec<i64>,
    body: Vec<Vec<u8>>,
}

/// A scan end's write sets, worked out on a snapshot, with the generations it read.
struct ScanPlan {
    /// The scan's `accounts` column as the snapshot had it.
    accounts_column: String,
    accounts: HashMap<String, PlannedAccount>,
}

struct PlannedAccount {
    generation: i64,
    writes: AccountWrites,
}

impl PostgresStore {
    /// A statement prepared once per connection (ingest runs the same few all the time).
    fn prepared(
        &self,
        tx: &Transaction<'_>,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, StoreError> {
        Ok(self.block(tx.prepare_cached(sql))?)
    }

    fn scan_owner(
        &self,
        tx: &Transaction<'_>,
        tenant: &str,
        scan_id: &str,
    ) -> Result<Option<String>, StoreError> {
        let stmt = self.block(
            tx.prepare_cached("SELECT agent FROM scans WHERE tenant = $1 AND scan_id = $2"),
        )?;
        Ok(self
            .block(tx.query_opt(&stmt, &[&tenant, &scan_id]))?
            .map(|r| r.get(0)))
    }

    /// The scan exists and `agent` began it.
    fn check_owner(
        &self,
        tx: &Transaction<'_>,
        tenant: &str,
        agent: &str,
        scan_id: &str,
    ) -> Result<(), StoreError> {
        match self.scan_owner(tx, tenant, scan_id)? {
            None => Err(StoreError::UnknownScan(scan_id.to_owned())),
            Some(a) if a != agent => Err(StoreError::ScanOwnedElsewhere {
                scan_id: scan_id.to_owned(),
            }),
            Some(_) => Ok(()),
        }
    }

    /// Bumps (and so locks until the commit) the generations of `accounts`, in sorted order
    /// so that two transactions never wait for each other in a circle.
    fn bump_generations(
        &self,
        tx: &Transaction<'_>,
        tenant: &str,
        accounts: &[&str],
    ) -> Result<(), StoreError> {
        let stmt = self.block(tx.prepare_cached(
            "INSERT INTO account_generations (tenant, account, generation)
             SELECT $1, a, 1 FROM unnest($2::text[]) AS a ORDER BY a
             ON CONFLICT (tenant, account) DO UPDATE
             SET generation = account_generations.generation + 1",
        ))?;
        self.block(tx.execute(&stmt, &[&tenant, &accounts]))?;
        Ok(())
    }

    /// Locks the generations of a scan end's accounts (bumping them) and says whether `plan`
    /// still describes them: kept only if every account's generation is the one its
    /// snapshot read (`UPDATE ... WHERE generation = $planned`).
    fn claim_accounts(
        &self,
        tx: &Transaction<'_>,
        tenant: &str,
        accounts: &[String],
        plan: Option<ScanPlan>,
    ) -> Result<Option<ScanPlan>, StoreError> {
        let mut sorted: Vec<&str> = accounts.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        let Some(plan) = plan.filter(|p| p.accounts.len() == sorted.len()) else {
            self.bump_generations(tx, tenant, &sorted)?;
            return Ok(None);
        };
        let guarded = self.block(tx.prepare_cached(
            "UPDATE account_generations SET generation = generation + 1
             WHERE tenant = $1 AND account = $2 AND generation = $3",
        ))?;
        for (i, account) in sorted.iter().enumerate() {
            let Some(planned) = plan.accounts.get(*account) else {
                self.bump_generations(tx, tenant, &sorted[i..])?;
                return Ok(None);
            };
            let matched = if planned.generation == 0 {
                // Never written: the row appears now, unless someone else made it meanwhile.
                self.block(tx.execute(
                    "INSERT INTO account_generations (tenant, account, generation)
                     VALUES ($1, $2, 1) ON CONFLICT DO NOTHING",
                    &[&tenant, account],
                ))?
            } else {
                self.block(tx.execute(&guarded, &[&tenant, account, &planned.generation]))?
            };
            if matched == 0 {
                self.bump_generations(tx, tenant, &sorted[i..])?;
                return Ok(None);
            }
        }
        Ok(Some(plan))
    }

    /// Works out a scan's end on a snapshot. None when it cannot be planned (scan unknown
    /// or ended: the writer answers that) or should not be (the planner asked about stores
    /// of other accounts, which the generations do not cover).
    fn plan_finish(
        &self,
        planner: &dyn AccountPlanner,
        tenant: &str,
        end: &ScanEnd,
    ) -> Result<Option<ScanPlan>, StoreError> {
        let mut client = self.client()?;
        let tx = self.block(
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start(),
        )?;
        let row = self.block(tx.query_opt(
            "SELECT accounts FROM scans
             WHERE tenant = $1 AND scan_id = $2 AND ended_at_ms IS NULL",
            &[&tenant, &end.scan_id],
        ))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let accounts_column: String = row.get(0);
        let accounts = finish_accounts(&accounts_column, end);
        let mut plans = HashMap::with_capacity(accounts.len());
        for account in accounts {
            let generation: i64 = self
                .block(tx.query_opt(
                    "SELECT generation FROM account_generations
                     WHERE tenant = $1 AND account = $2",
                    &[&tenant, &account],
                ))?
                .map_or(0, |r| r.get(0));
            let (facts, views, claimed) = self.read_account(&tx, tenant, &account)?;
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
        self.block(tx.commit())?;
        Ok(Some(ScanPlan {
            accounts_column,
            accounts: plans,
        }))
    }

    /// Everything stored about one account: its facts (with kind and scan) and its views.
    fn read_account(
        &self,
        tx: &Transaction<'_>,
        tenant: &str,
        account: &str,
    ) -> Result<(Vec<AccountFact>, Vec<StoreView>, bool), StoreError> {
        let facts_stmt = self.block(tx.prepare_cached(
            "SELECT kind, scan_id, body FROM facts WHERE tenant = $1 AND account = $2",
        ))?;
        let mut facts = Vec::new();
        for r in self.block(tx.query(&facts_stmt, &[&tenant, &account]))? {
            let body: &[u8] = r.get(2);
            facts.push(AccountFact {
                kind: r.get(0),
                scan_id: r.get(1),
                fact: Fact::decode(body)?,
            });
        }
        let views_stmt = self.block(tx.prepare_cached(
            "SELECT view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id FROM stores
             WHERE tenant = $1 AND account = $2",
        ))?;
        let views = self
            .block(tx.query(&views_stmt, &[&tenant, &account]))?
            .iter()
            .map(view_from_row)
            .collect::<Result<_, _>>()?;
        let claimed = !self
            .block(tx.query(OTHER_CLAIMANTS, &[&account, &tenant]))?
            .is_empty();
        Ok((facts, views, claimed))
    }

    /// The planner's writes for one account, on the write transaction (its accounts locked).
    fn plan_in(
        &self,
        tx: &Transaction<'_>,
        planner: &dyn AccountPlanner,
        tenant: &str,
        account: &str,
    ) -> Result<AccountWrites, StoreError> {
        let (facts, views, claimed) = self.read_account(tx, tenant, account)?;
        let region = |target_account: &str, name: &str| -> Option<String> {
            // The region of a present store of the tenant, in that account (no guesses).
            self.block(tx.query_opt(
                "SELECT region FROM stores
                 WHERE tenant = $1 AND account = $2 AND name = $3 AND region <> ''
                   AND gone_at_ms IS NULL
                 LIMIT 1",
                &[&tenant, &target_account, &name],
            ))
            .ok()
            .flatten()
            .map(|r| r.get(0))
        };
        Ok(planner.plan(AccountSnapshot {
            tenant,
            account,
            facts,
            views,
            claimed_by_other_tenant: claimed,
            known_region: &region,
        }))
    }

    /// Writes one account's write set, each part as one statement; its change events are
    /// collected into `changes` and recorded by [`PostgresStore::record_changes`]. `scan_id`
    /// is None for a re-interpretation (no store is seen then).
    #[allow(clippy::too_many_arguments)]
    fn apply(
        &self,
        tx: &Transaction<'_>,
        tenant: &str,
        account: &str,
        scan_id: Option<&str>,
        now_ms: i64,
        writes: AccountWrites,
        outcome: &mut ScanOutcome,
        changes: &mut Vec<crate::store::PendingChange>,
    ) -> Result<(), StoreError> {
        if !writes.superseded.is_empty() {
            let (subjects, kinds): (Vec<&str>, Vec<&str>) = writes
                .superseded
                .iter()
                .map(|(s, k)| (s.as_str(), k.as_str()))
                .unzip();
            self.block(tx.execute(
                "DELETE FROM facts f USING unnest($3::text[], $4::text[]) AS u(subject, kind)
                 WHERE f.tenant = $1 AND f.account = $2 AND f.subject = u.subject
                   AND f.kind = u.kind",
                &[&tenant, &account, &subjects, &kinds],
            ))?;
        }
        if let Some(scan_id) = scan_id {
            // Last write of an id wins, as row-by-row upserts would have it.
            let mut by_id: BTreeMap<&str, &crate::store::EncodedView> = BTreeMap::new();
            for s in &writes.seen {
                by_id.insert(&s.view.id, s);
            }
            let mut columns = ViewColumns::default();
            for s in by_id.values() {
                columns.push(&s.view, &s.bytes);
            }
            if !columns.is_empty() {
                let sql = format!(
                    "INSERT INTO stores (tenant, id, {VIEW_COLUMNS}, first_seen_ms, last_seen_ms,
                                         gone_at_ms, last_scan_id)
                     SELECT u.*, $24, $24, NULL, $25 FROM {UNNEST_VIEWS}
                     ON CONFLICT (tenant, id) DO UPDATE SET
                       provider = excluded.provider, account = excluded.account,
                       name = excluded.name, region = excluded.region,
                       country = excluded.country, eu = excluded.eu,
                       custody = excluded.custody, custody_rank = excluded.custody_rank,
                       classification = excluded.classification, process = excluded.process,
                       jurisdiction = excluded.jurisdiction, cloud_act = excluded.cloud_act,
                       replicated_outside_eu = excluded.replicated_outside_eu,
                       bytes = excluded.bytes, objects = excluded.objects, view = excluded.view,
                       kind = excluded.kind, unknown_dims = excluded.unknown_dims,
                       provider_parent = excluded.provider_parent, sov2 = excluded.sov2,
                       sov3 = excluded.sov3, last_seen_ms = excluded.last_seen_ms,
                       gone_at_ms = NULL, last_scan_id = excluded.last_scan_id"
                );
                let mut params = columns.params().to_vec();
                params.push(&now_ms);
                params.push(&scan_id);
                self.block(tx.execute(sql.as_str(), &params))?;
            }
            outcome.stores_interpreted += writes.seen.len();
        }
        if !writes.reinterpreted.is_empty() {
            let mut by_id: BTreeMap<&str, &crate::store::EncodedView> = BTreeMap::new();
            for r in &writes.reinterpreted {
                by_id.insert(&r.view.id, r);
            }
            let mut columns = ViewColumns::default();
            for r in by_id.values() {
                columns.push(&r.view, &r.bytes);
            }
            let sql = format!(
                "UPDATE stores s SET provider = u.provider, account = u.account, name = u.name,
                   region = u.region, country = u.country, eu = u.eu, custody = u.custody,
                   custody_rank = u.custody_rank, classification = u.classification,
                   process = u.process, jurisdiction = u.jurisdiction, cloud_act = u.cloud_act,
                   replicated_outside_eu = u.replicated_outside_eu, bytes = u.bytes,
                   objects = u.objects, view = u.view, kind = u.kind,
                   unknown_dims = u.unknown_dims, provider_parent = u.provider_parent,
                   sov2 = u.sov2, sov3 = u.sov3
                 FROM {UNNEST_VIEWS}
                 WHERE s.tenant = u.tenant AND s.id = u.id"
            );
            self.block(tx.execute(sql.as_str(), &columns.params()))?;
        }
        if !writes.gone.is_empty() {
            let marked = self.block(tx.execute(
                "UPDATE stores SET gone_at_ms = $3
                 WHERE tenant = $1 AND id = ANY($2) AND gone_at_ms IS NULL",
                &[&tenant, &writes.gone, &now_ms],
            ))?;
            outcome.stores_gone += marked as usize;
        }
        changes.extend(writes.changes);
        Ok(())
    }

    /// Records change events with ids taken from `change_head`, whose row stays locked until
    /// this transaction commits: ids are gap-free and increase in commit order, whichever
    /// collector commits. Called last before the commit, to hold that lock briefly.
    fn record_changes(
        &self,
        tx: &Transaction<'_>,
        changes: Vec<crate::store::PendingChange>,
        outcome: &mut ScanOutcome,
    ) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let n = changes.len() as i64;
        let last: i64 = self
            .block(tx.query_one(
                "UPDATE change_head SET last_id = last_id + $1 RETURNING last_id",
                &[&n],
            ))?
            .get(0);
        let first = last - n + 1;
        let mut tenants = Vec::with_capacity(changes.len());
        let mut ids = Vec::with_capacity(changes.len());
        let mut stores = Vec::with_capacity(changes.len());
        let mut at = Vec::with_capacity(changes.len());
        let mut scans = Vec::with_capacity(changes.len());
        let mut bodies = Vec::with_capacity(changes.len());
        for (i, c) in changes.into_iter().enumerate() {
            let mut event = c.event;
            // The id is assigned here, after the event was encoded (as in SQLite).
            event.id = first + i as i64;
            tenants.push(event.tenant.clone());
            ids.push(event.id);
            stores.push(event.store_id.clone());
            at.push(event.at_ms);
            scans.push(event.scan_id.clone());
            bodies.push(c.bytes);
            outcome.changes.push(event);
        }
        self.block(tx.execute(
            "INSERT INTO changes (tenant, id, store_id, at_ms, scan_id, event)
             SELECT * FROM unnest($1::text[], $2::int8[], $3::text[], $4::int8[], $5::text[],
                                  $6::bytea[])",
            &[&tenants, &ids, &stores, &at, &scans, &bodies],
        ))?;
        // Delivered at commit to every collector listening (a wake-up; they read by id).
        self.block(tx.execute(
            "SELECT pg_notify($1, $2)",
            &[&super::listen::CHANGES_CHANNEL, &last.to_string()],
        ))?;
        Ok(())
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

/// The scans table's coverage column: one line per account (as SQLite's).
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
