//! The embedded SQLite store: one file, WAL mode, 16 KiB pages; one writer connection (group
//! commit), one reader for operators' queries, two planners for scan ends and a checkpoint
//! thread with its own connection.

use std::borrow::Cow;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Mutex;

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};

use landmeter_proto::Custody;
use landmeter_proto::v1::{
    ChangeEvent, ChangeKind, Fact, FactsBatch, FieldChange, GetStoreResponse, Provenance,
    ScanBegin, ScanEnd, StoreFilter, StoreView, SummaryRow, fact::Body,
};

use super::{
    AuditEntry, BatchOutcome, Durability, GroupField, MapStore, ScanOutcome, Scope, StoreError,
    TokenRecord,
};
use crate::map::Interpreter;

#[path = "sqlite_reports.rs"]
mod reports;

#[path = "sqlite_ingest.rs"]
mod ingest;

#[path = "sqlite_checkpoint.rs"]
mod checkpoint;

/// The writer's page cache (KiB). An 8-agent ingest touches the tails of every index at
/// once; with SQLite's 2 MiB default they are evicted and re-read between commits.
pub const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Schema migrations, applied in order at open; `meta.schema_version` says how far.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_trust.sql"),
    include_str!("../../migrations/0003_changes.sql"),
    include_str!("../../migrations/0004_summary_index.sql"),
    include_str!("../../migrations/0005_reports.sql"),
    include_str!("../../migrations/0006_lean_ingest.sql"),
];

pub struct SqliteStore {
    /// The one writing connection, with group commit (`sqlite_ingest.rs`).
    writer: ingest::GroupWriter,
    reader: Mutex<Connection>,
    /// Works out scan ends outside the writer lock (`sqlite_ingest.rs`), so operators'
    /// queries on `reader` do not wait for it.
    planners: Planners,
    /// Last: stops after the connections above are closed.
    _checkpointer: checkpoint::Checkpointer,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and migrates it, syncing every commit.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, Durability::Full)
    }

    /// [`SqliteStore::open`] with the chosen durability of commits.
    pub fn open_with(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let writer = Connection::open(path)?;
        configure(&writer, durability)?;
        configure_writer(&writer)?;
        migrate(&writer)?;
        let reader = Connection::open(path)?;
        configure(&reader, durability)?;
        let planners = Planners::open(path, durability)?;
        Ok(Self {
            writer: ingest::GroupWriter::new(writer),
            reader: Mutex::new(reader),
            planners,
            _checkpointer: checkpoint::Checkpointer::start(path, durability)?,
        })
    }

    /// Runs `f` atomically; returns after its transaction committed (with others waiting
    /// at the same time: group commit).
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.writer
            .write(|c, _| Ok((f(c)?, Touched::Accounts(Vec::new()))))
    }

    /// [`SqliteStore::write`] for writes that change accounts' facts, stores or claims: `f`
    /// returns the accounts it touched, whose generations are bumped after the commit.
    fn write_accounts<T>(
        &self,
        f: impl FnOnce(&Connection, &ingest::Uncommitted<'_>) -> Result<(T, Touched), StoreError>,
    ) -> Result<T, StoreError> {
        self.writer.write(f)
    }

    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = self.reader.lock().map_err(|_| StoreError::Poisoned)?;
        f(&conn)
    }
}

/// The connections scan ends are planned on: two, so that one agent's scan end need not
/// wait for another's plan while the writer has work for both.
struct Planners {
    conns: [Mutex<Connection>; 2],
    next: std::sync::atomic::AtomicUsize,
}

impl Planners {
    fn open(path: &Path, durability: Durability) -> Result<Self, StoreError> {
        let open = || -> Result<Mutex<Connection>, StoreError> {
            let c = Connection::open(path)?;
            configure(&c, durability)?;
            Ok(Mutex::new(c))
        };
        Ok(Self {
            conns: [open()?, open()?],
            next: std::sync::atomic::AtomicUsize::new(0),
        })
    }

    /// A free planner connection if there is one, else the next in turn.
    fn lock(&self) -> std::sync::LockResult<std::sync::MutexGuard<'_, Connection>> {
        for c in &self.conns {
            match c.try_lock() {
                Ok(guard) => return Ok(guard),
                Err(std::sync::TryLockError::Poisoned(p)) => return Err(p),
                Err(std::sync::TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % self.conns.len();
        self.conns[i].lock()
    }
}

/// Which accounts a write transaction changed.
enum Touched {
    Accounts(Vec<String>),
    All,
}

/// Bytes per database page, for databases created from now on (an existing file keeps its
/// own until a VACUUM). Ingest writes whole pages to the WAL at every commit; with 16 KiB
/// pages an 8-agent ingest ran 10-15 % faster than with SQLite's 4 KiB (bench/README.md).
const PAGE_SIZE: i64 = 16 * 1024;

fn configure(conn: &Connection, durability: Durability) -> Result<(), StoreError> {
    // Before the journal mode: a new file in WAL mode cannot change its page size any more.
    conn.pragma_update(None, "page_size", PAGE_SIZE)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        // FULL: an acknowledged batch survives a power cut, not only a process crash.
        Durability::Full => "FULL",
        // NORMAL in WAL mode: a commit is in the WAL file (the OS holds it) before it is
        // acknowledged, so it survives the process; the WAL is synced at checkpoints.
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(())
}

/// The writing connection's own settings: a larger cache, and a checkpoint threshold that
/// leaves it only the tail the checkpoint thread has not copied yet (`sqlite_checkpoint.rs`).
pub fn configure_writer(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "cache_size", -WRITER_CACHE_KIB)?;
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_CHECKPOINT_PAGES)?;
    Ok(())
}

/// WAL pages at which a commit checkpoints (SQLite's default is 1,000). The checkpoint
/// thread has copied most of them by then; the writer's checkpoint finishes the rest, which
/// lets the next write start the WAL over. Without it the WAL would only grow while writes
/// never pause, and every page lookup walks its whole index.
const WRITER_CHECKPOINT_PAGES: i64 = 8192;

fn migrate(conn: &Connection) -> Result<(), StoreError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    )?;
    let version: usize = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!("BEGIN; {sql}; COMMIT;"))?;
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            [(i + 1).to_string()],
        )?;
        tracing::info!(version = i + 1, "applied schema migration");
    }
    Ok(())
}

/// The key under which a fact replaces its predecessor: one answer per subject and call.
pub fn fact_kind(fact: &Fact) -> Cow<'static, str> {
    match &fact.body {
        Some(Body::Store(_)) => "store".into(),
        Some(Body::Encryption(_)) => "encryption".into(),
        Some(Body::Tags(_)) => "tags".into(),
        Some(Body::Replication(_)) => "replication".into(),
        Some(Body::Size(_)) => "size".into(),
        Some(Body::Key(_)) => "key".into(),
        Some(Body::KeyStore(_)) => "key_store".into(),
        Some(Body::Retention(_)) => "retention".into(),
        Some(Body::Gap(g)) => format!("gap:{}", g.call).into(),
        None => "empty".into(),
    }
}

/// Columns of `stores` holding the interpretation, in the order `write_view` binds them.
const VIEW_COLUMNS: &str = "provider, account, name, region, country, eu, custody, custody_rank,
    classification, process, jurisdiction, cloud_act, replicated_outside_eu, bytes, objects, view";

fn load_account_facts(
    tx: &Connection,
    tenant: &str,
    account: &str,
) -> Result<Vec<(Fact, String)>, StoreError> {
    let mut stmt =
        tx.prepare_cached("SELECT body, scan_id FROM facts WHERE tenant = ?1 AND account = ?2")?;
    let rows = stmt.query_map(params![tenant, account], |r| {
        Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, String>(1)?))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (body, scan) = row?;
        out.push((Fact::decode(body.as_slice())?, scan));
    }
    Ok(out)
}

fn interpret(
    tx: &Connection,
    interpreter: &Interpreter,
    tenant: &str,
    account: &str,
    facts: &[Fact],
) -> Vec<StoreView> {
    let known_region = |bucket: &str| -> Option<String> {
        tx.prepare_cached(
            "SELECT region FROM stores WHERE tenant = ?1 AND name = ?2 AND region <> ''
             ORDER BY gone_at_ms IS NOT NULL, last_seen_ms DESC LIMIT 1",
        )
        .and_then(|mut s| {
            s.query_row(params![tenant, bucket], |r| r.get(0))
                .optional()
        })
        .ok()
        .flatten()
    };
    let claimed_elsewhere = other_claimants(tx, tenant, account).is_ok_and(|o| !o.is_empty());
    let mut views = interpreter.interpret_account(tenant, account, facts, &known_region);
    for v in &mut views {
        v.account_claimed_by_other_tenant = claimed_elsewhere;
    }
    views
}

fn other_claimants(
    conn: &Connection,
    tenant: &str,
    account: &str,
) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT tenant FROM account_claims WHERE account = ?1 AND tenant <> ?2 ORDER BY tenant",
    )?;
    let rows = stmt.query_map(params![account, tenant], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn write_view(
    tx: &Connection,
    view: &StoreView,
    scan_id: &str,
    seen_now: Option<i64>,
) -> Result<(), StoreError> {
    let custody = view.custody();
    let view_bytes = view.encode_to_vec();
    let interpretation: [&dyn rusqlite::ToSql; 18] = [
        &view.tenant,
        &view.id,
        &view.provider,
        &view.account,
        &view.name,
        &view.region,
        &view.country,
        &view.eu,
        &custody.label(),
        &custody.rank(),
        &view.classification,
        &view.process,
        &view.jurisdiction,
        &view.cloud_act,
        &view.replicated_outside_eu,
        &view.bytes,
        &view.objects,
        &view_bytes,
    ];
    match seen_now {
        Some(now) => upsert_seen(tx, view, &view_bytes, now, scan_id)?,
        // Re-interpretation only: keep seen/gone bookkeeping.
        None => {
            tx.prepare_cached(
                "UPDATE stores SET provider = ?3, account = ?4, name = ?5, region = ?6, country = ?7,
                   eu = ?8, custody = ?9, custody_rank = ?10, classification = ?11, process = ?12,
                   jurisdiction = ?13, cloud_act = ?14, replicated_outside_eu = ?15, bytes = ?16,
                   objects = ?17, view = ?18
                 WHERE tenant = ?1 AND id = ?2",
            )?
            .execute(&interpretation[..])?;
        }
    }
    Ok(())
}

/// The accounts a scan's end re-interprets: those it began with, then any only its coverage
/// names.
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

/// Inserts or refreshes a store seen in a scan, clearing any gone mark. Built once: the
/// statement cache is keyed by the text.
static UPSERT_SEEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
                "INSERT INTO stores (tenant, id, {VIEW_COLUMNS}, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?19, NULL, ?20)
                 ON CONFLICT(tenant, id) DO UPDATE SET
                   provider = excluded.provider, account = excluded.account, name = excluded.name,
                   region = excluded.region, country = excluded.country, eu = excluded.eu,
                   custody = excluded.custody, custody_rank = excluded.custody_rank,
                   classification = excluded.classification, process = excluded.process,
                   jurisdiction = excluded.jurisdiction, cloud_act = excluded.cloud_act,
                   replicated_outside_eu = excluded.replicated_outside_eu,
                   bytes = excluded.bytes, objects = excluded.objects, view = excluded.view,
                   last_seen_ms = excluded.last_seen_ms, gone_at_ms = NULL,
                   last_scan_id = excluded.last_scan_id"
    )
});

/// Writes a store seen in a scan: inserts it, or refreshes it and clears any gone mark.
/// `view_bytes` is `view` encoded (by a planner, off the writer).
pub fn upsert_seen(
    tx: &Connection,
    view: &StoreView,
    view_bytes: &[u8],
    now_ms: i64,
    scan_id: &str,
) -> Result<(), StoreError> {
    let custody = view.custody();
    tx.prepare_cached(&UPSERT_SEEN)?.execute(params![
        view.tenant,
        view.id,
        view.provider,
        view.account,
        view.name,
        view.region,
        view.country,
        view.eu,
        custody.label(),
        custody.rank(),
        view.classification,
        view.process,
        view.jurisdiction,
        view.cloud_act,
        view.replicated_outside_eu,
        view.bytes,
        view.objects,
        view_bytes,
        now_ms,
        scan_id,
    ])?;
    Ok(())
}

/// The stored view of a store (with its bookkeeping), if any.
fn current_view(tx: &Connection, tenant: &str, id: &str) -> Result<Option<StoreView>, StoreError> {
    let found = tx
        .prepare_cached(
            "SELECT view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id FROM stores
             WHERE tenant = ?1 AND id = ?2",
        )?
        .query_row(params![tenant, id], view_from_row)
        .optional()?;
    found.transpose()
}

/// Records one change event in the same transaction as the change itself.
fn record_change(
    tx: &Connection,
    scan_id: &str,
    at_ms: i64,
    kind: ChangeKind,
    changes: Vec<FieldChange>,
    store: StoreView,
) -> Result<ChangeEvent, StoreError> {
    let mut event = ChangeEvent {
        id: 0,
        tenant: store.tenant.clone(),
        store_id: store.id.clone(),
        at_ms,
        scan_id: scan_id.to_owned(),
        kind: kind as i32,
        changes,
        store: Some(crate::map::changes::history_view(&store)),
    };
    tx.prepare_cached(
        "INSERT INTO changes (tenant, store_id, at_ms, scan_id, event) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        event.tenant,
        event.store_id,
        at_ms,
        scan_id,
        event.encode_to_vec()
    ])?;
    event.id = tx.last_insert_rowid();
    Ok(event)
}

/// Fills the bookkeeping fields of a view from its row.
pub(super) fn view_from_row(
    r: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<StoreView, StoreError>> {
    let body: Vec<u8> = r.get("view")?;
    let first: i64 = r.get("first_seen_ms")?;
    let last: i64 = r.get("last_seen_ms")?;
    let gone: Option<i64> = r.get("gone_at_ms")?;
    let scan: String = r.get("last_scan_id")?;
    Ok(StoreView::decode(body.as_slice())
        .map(|mut v| {
            v.first_seen_ms = first;
            v.last_seen_ms = last;
            v.gone_at_ms = gone;
            v.last_scan_id = scan;
            v
        })
        .map_err(StoreError::from))
}

/// A WHERE clause and its parameters for a scope and a filter.
pub(super) struct Where {
    pub(super) sql: String,
    pub(super) params: Vec<rusqlite::types::Value>,
}

impl Where {
    pub(super) fn new(scope: &Scope, filter: &StoreFilter) -> Self {
        use rusqlite::types::Value;
        let mut w = Where {
            sql: "1 = 1".into(),
            params: Vec::new(),
        };
        if let Scope::Tenant(t) = scope {
            w.eq("tenant", Value::Text(t.clone()));
        }
        w.any_of("provider", &filter.providers);
        w.any_of("account", &filter.accounts);
        w.any_of("region", &filter.regions);
        w.any_of("country", &filter.countries);
        w.any_of("classification", &filter.classifications);
        w.any_of("process", &filter.processes);
        if let Some(eu) = filter.eu {
            w.eq("eu", Value::Integer(eu.into()));
        }
        if let Some(r) = filter.replicated_outside_eu {
            w.eq("replicated_outside_eu", Value::Integer(r.into()));
        }
        if let Some(ca) = filter.cloud_act {
            w.sql.push_str(if ca {
                " AND cloud_act = 'yes'"
            } else {
                " AND cloud_act <> 'yes'"
            });
        }
        let at_least = filter.custody_at_least();
        if at_least != Custody::Unspecified {
            w.params.push(Value::Integer(at_least.rank().into()));
            w.sql
                .push_str(&format!(" AND custody_rank >= ?{}", w.params.len()));
        }
        let at_most = filter.custody_at_most();
        if at_most != Custody::Unspecified {
            w.params.push(Value::Integer(at_most.rank().into()));
            w.sql
                .push_str(&format!(" AND custody_rank <= ?{}", w.params.len()));
        }
        if !filter.include_gone {
            w.sql.push_str(" AND gone_at_ms IS NULL");
        }
        w
    }

    fn eq(&mut self, column: &str, value: rusqlite::types::Value) {
        self.params.push(value);
        self.sql
            .push_str(&format!(" AND {column} = ?{}", self.params.len()));
    }

    fn any_of(&mut self, column: &str, values: &[String]) {
        if values.is_empty() {
            return;
        }
        let mut marks = Vec::with_capacity(values.len());
        for v in values {
            self.params.push(rusqlite::types::Value::Text(v.clone()));
            marks.push(format!("?{}", self.params.len()));
        }
        self.sql
            .push_str(&format!(" AND {column} IN ({})", marks.join(", ")));
    }
}

impl MapStore for SqliteStore {
    fn begin_scan(&self, tenant: &str, agent: &str, begin: &ScanBegin) -> Result<(), StoreError> {
        self.write(|tx| {
            let owner: Option<String> = tx
                .query_row(
                    "SELECT agent FROM scans WHERE tenant = ?1 AND scan_id = ?2",
                    params![tenant, begin.scan_id],
                    |r| r.get(0),
                )
                .optional()?;
            match owner {
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
                            begin.provider,
                            begin.accounts.join(","),
                            begin.started_at_ms
                        ],
                    )?;
                    Ok(())
                }
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
            let owner: Option<String> = tx
                .prepare_cached("SELECT agent FROM scans WHERE tenant = ?1 AND scan_id = ?2")?
                .query_row(params![tenant, batch.scan_id], |r| r.get(0))
                .optional()?;
            match owner {
                None => return Err(StoreError::UnknownScan(batch.scan_id.clone())),
                Some(a) if a != agent => {
                    return Err(StoreError::ScanOwnedElsewhere {
                        scan_id: batch.scan_id.clone(),
                    });
                }
                Some(_) => {}
            }
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
        end: &ScanEnd,
        interpreter: &Interpreter,
        now_ms: i64,
    ) -> Result<ScanOutcome, StoreError> {
        // Reading and interpreting outside the writer lock; a plan that went stale meanwhile
        // is not used, and one that could not be made leaves the work to the writer.
        let mut plan = match self.planners.lock() {
            Ok(mut conn) => ingest::plan_finish(
                &mut conn,
                &self.writer.generations,
                interpreter,
                tenant,
                end,
                now_ms,
            )
            .unwrap_or_else(|e| {
                tracing::debug!(error = %e, scan = %end.scan_id, "scan end not planned");
                None
            }),
            Err(_) => None,
        };
        self.write_accounts(|tx, uncommitted| {
            let scan: Option<(String, Option<i64>)> = tx
                .query_row(
                    "SELECT accounts, ended_at_ms FROM scans WHERE tenant = ?1 AND scan_id = ?2",
                    params![tenant, end.scan_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((accounts, ended)) = scan else {
                return Err(StoreError::UnknownScan(end.scan_id.clone()));
            };
            if ended.is_some() {
                return Ok((
                    ScanOutcome {
                        already_finished: true,
                        ..ScanOutcome::default()
                    },
                    Touched::Accounts(Vec::new()),
                ));
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

            let accounts_column = accounts;
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
                if let Some(p) = plan.as_mut().and_then(|p| p.take(account)) {
                    p.apply(tx, tenant, account, &end.scan_id, now_ms, &mut outcome)?;
                } else {
                // A subject observed in this scan: its answers from older scans are superseded
                // (an old AccessDenied gap must not outlive today's successful answer).
                tx.execute(
                    "DELETE FROM facts WHERE tenant = ?1 AND account = ?2 AND scan_id <> ?3
                       AND subject IN (SELECT subject FROM facts
                                       WHERE tenant = ?1 AND account = ?2 AND scan_id = ?3)",
                    params![tenant, account, end.scan_id],
                )?;
                let (facts, scans): (Vec<Fact>, Vec<String>) =
                    load_account_facts(tx, tenant, account)?.into_iter().unzip();
                let seen: HashSet<&str> = facts
                    .iter()
                    .zip(&scans)
                    .filter(|(f, scan)| {
                        *scan == &end.scan_id && matches!(f.body, Some(Body::Store(_)))
                    })
                    .map(|(f, _)| f.subject.as_str())
                    .collect();
                for view in interpret(tx, interpreter, tenant, account, &facts) {
                    if !seen.contains(view.name.as_str()) {
                        continue;
                    }
                    outcome.stores_interpreted += 1;
                    let before = current_view(tx, tenant, &view.id)?;
                    write_view(tx, &view, &end.scan_id, Some(now_ms))?;
                    if let Some((kind, changes)) = crate::map::changes::diff(before.as_ref(), &view) {
                        let mut after = view;
                        after.last_seen_ms = now_ms;
                        after.first_seen_ms = before.map_or(now_ms, |b| b.first_seen_ms);
                        after.last_scan_id = end.scan_id.clone();
                        outcome.changes.push(record_change(tx, &end.scan_id, now_ms, kind, changes, after)?);
                    }
                }
                }
                let complete = end
                    .coverage
                    .iter()
                    .any(|c| &c.account == account && c.complete);
                if complete {
                    let leaving: Vec<StoreView> = tx
                        .prepare_cached(
                            "SELECT view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id FROM stores
                             WHERE tenant = ?1 AND account = ?2 AND last_scan_id <> ?3 AND gone_at_ms IS NULL",
                        )?
                        .query_map(params![tenant, account, end.scan_id], view_from_row)?
                        .map(|r| r.map_err(StoreError::from).and_then(|v| v))
                        .collect::<Result<_, _>>()?;
                    outcome.stores_gone += tx.execute(
                        "UPDATE stores SET gone_at_ms = ?4
                         WHERE tenant = ?1 AND account = ?2 AND last_scan_id <> ?3 AND gone_at_ms IS NULL",
                        params![tenant, account, end.scan_id, now_ms],
                    )?;
                    for mut view in leaving {
                        view.gone_at_ms = Some(now_ms);
                        outcome.changes.push(record_change(tx, &end.scan_id, now_ms, ChangeKind::Gone, Vec::new(), view)?);
                    }
                }
            }
            let coverage: Vec<String> = end
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
            tx.execute(
                "UPDATE scans SET ended_at_ms = ?3, batches = ?4, coverage = ?5
                 WHERE tenant = ?1 AND scan_id = ?2",
                params![
                    tenant,
                    end.scan_id,
                    end.ended_at_ms,
                    end.batches as i64,
                    coverage.join("\n")
                ],
            )?;
            Ok((outcome, Touched::Accounts(accounts)))
        })
    }

    fn reinterpret_all(&self, interpreter: &Interpreter) -> Result<usize, StoreError> {
        self.write_accounts(|tx, _| {
            let pairs: Vec<(String, String)> = {
                let mut stmt = tx.prepare("SELECT DISTINCT tenant, account FROM facts")?;
                stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<Result<_, _>>()?
            };
            let mut n = 0;
            for (tenant, account) in pairs {
                let facts: Vec<Fact> = load_account_facts(tx, &tenant, &account)?
                    .into_iter()
                    .map(|(f, _)| f)
                    .collect();
                for view in interpret(tx, interpreter, &tenant, &account, &facts) {
                    let Some(before) = current_view(tx, &tenant, &view.id)? else {
                        continue;
                    };
                    write_view(tx, &view, "", None)?;
                    n += 1;
                    // Only present stores: a gone store's re-interpretation is not news.
                    if before.gone_at_ms.is_none()
                        && let Some((ChangeKind::Changed, changes)) =
                            crate::map::changes::diff(Some(&before), &view)
                    {
                        let mut after = view;
                        after.first_seen_ms = before.first_seen_ms;
                        after.last_seen_ms = before.last_seen_ms;
                        after.last_scan_id = before.last_scan_id.clone();
                        let now = std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map_or(0, |d| d.as_millis() as i64);
                        record_change(
                            tx,
                            "reinterpretation",
                            now,
                            ChangeKind::Changed,
                            changes,
                            after,
                        )?;
                    }
                }
            }
            Ok((n, Touched::All))
        })
    }

    fn list_changes(
        &self,
        scope: &Scope,
        since_ms: i64,
        after_id: i64,
        limit: usize,
        filter: &StoreFilter,
    ) -> Result<Vec<ChangeEvent>, StoreError> {
        let tenant = match scope {
            Scope::AllTenants => None,
            Scope::Tenant(t) => Some(t.clone()),
            Scope::Pool { .. } => {
                return Err(StoreError::Forbidden(
                    "the pool role reads aggregates only".into(),
                ));
            }
        };
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, event FROM changes
                 WHERE at_ms >= ?1 AND id > ?2 AND (?3 IS NULL OR tenant = ?3)
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![since_ms, after_id, tenant], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, body) = row?;
                let mut event = ChangeEvent::decode(body.as_slice())?;
                // The id is assigned by the insert, after the event was encoded.
                event.id = id;
                if event
                    .store
                    .as_ref()
                    .is_some_and(|v| crate::map::changes::matches(filter, v))
                {
                    out.push(event);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    fn list_stores(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        page_size: usize,
        page_token: &str,
    ) -> Result<(Vec<StoreView>, String), StoreError> {
        if let Scope::Pool { .. } = scope {
            return Err(StoreError::Forbidden(
                "the pool role reads aggregates only".into(),
            ));
        }
        let mut w = Where::new(scope, filter);
        // Keyset pagination on (tenant, id): stable under concurrent writes, no OFFSET scans.
        if !page_token.is_empty() {
            let (t, id) = page_token
                .split_once('\u{1f}')
                .ok_or(StoreError::BadPageToken)?;
            w.params.push(rusqlite::types::Value::Text(t.to_owned()));
            w.params.push(rusqlite::types::Value::Text(id.to_owned()));
            let n = w.params.len();
            w.sql
                .push_str(&format!(" AND (tenant, id) > (?{}, ?{n})", n - 1));
        }
        let sql = format!(
            "SELECT tenant, id, view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id
             FROM stores WHERE {} ORDER BY tenant, id LIMIT {}",
            w.sql,
            page_size + 1
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query_map(params_from_iter(w.params.iter()), view_from_row)?;
            let mut out = Vec::new();
            for row in rows.by_ref() {
                out.push(row??);
            }
            let next = if out.len() > page_size {
                out.truncate(page_size);
                out.last()
                    .map(|v| format!("{}\u{1f}{}", v.tenant, v.id))
                    .unwrap_or_default()
            } else {
                String::new()
            };
            Ok((out, next))
        })
    }

    fn get_store(&self, scope: &Scope, id: &str) -> Result<Option<GetStoreResponse>, StoreError> {
        if let Scope::Pool { .. } = scope {
            return Err(StoreError::Forbidden(
                "the pool role reads aggregates only".into(),
            ));
        }
        let filter = StoreFilter {
            include_gone: true,
            ..StoreFilter::default()
        };
        let mut w = Where::new(scope, &filter);
        w.eq("id", rusqlite::types::Value::Text(id.to_owned()));
        let sql = format!(
            "SELECT tenant, id, account, name, view, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id
             FROM stores WHERE {} ORDER BY tenant LIMIT 1",
            w.sql
        );
        self.read(|c| {
            let found = c
                .query_row(&sql, params_from_iter(w.params.iter()), |r| {
                    Ok((
                        r.get::<_, String>("tenant")?,
                        r.get::<_, String>("account")?,
                        r.get::<_, String>("name")?,
                        view_from_row(r)?,
                    ))
                })
                .optional()?;
            let Some((tenant, account, name, view)) = found else {
                return Ok(None);
            };
            let view = view?;
            // The facts the interpretation rests on: the store's own, and its keys' and key stores'.
            let mut subjects = vec![name];
            let mut stmt = c.prepare_cached(
                "SELECT body, scan_id, agent FROM facts
                 WHERE tenant = ?1 AND account = ?2 AND subject = ?3 ORDER BY kind",
            )?;
            let mut facts = Vec::new();
            let mut i = 0;
            while i < subjects.len() {
                let rows = stmt.query_map(params![tenant, account, subjects[i]], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                    ))
                })?;
                for row in rows {
                    let (body, scan_id, agent) = row?;
                    let fact = Fact::decode(body.as_slice())?;
                    // Follow the references: encryption -> key (or its failed lookup) -> key store.
                    let refs: Vec<&String> = match &fact.body {
                        Some(Body::Encryption(e)) => vec![&e.key_ref, &e.resolved_key_arn],
                        Some(Body::Key(k)) => vec![&k.custom_key_store_id],
                        _ => vec![],
                    };
                    for r in refs {
                        if !r.is_empty() && !subjects.contains(r) {
                            subjects.push(r.clone());
                        }
                    }
                    facts.push(Provenance {
                        fact: Some(fact),
                        scan_id,
                        agent,
                    });
                }
                i += 1;
            }
            Ok(Some(GetStoreResponse {
                store: Some(view),
                facts,
            }))
        })
    }

    fn summary(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        group_by: &[GroupField],
    ) -> Result<Vec<SummaryRow>, StoreError> {
        let mut having = String::new();
        if let Scope::Pool { min_tenants } = scope {
            if group_by
                .iter()
                .any(|g| matches!(g, GroupField::Tenant | GroupField::Account))
                || !filter.accounts.is_empty()
            {
                return Err(StoreError::Forbidden(
                    "the pool role cannot group or filter by tenant or account".into(),
                ));
            }
            // A row over fewer than k tenants could identify one: it is left out.
            having = format!("HAVING COUNT(DISTINCT tenant) >= {min_tenants}");
        }
        let w = Where::new(scope, filter);
        let columns: Vec<&str> = group_by
            .iter()
            .map(|g| match g {
                GroupField::Eu => "CASE eu WHEN 1 THEN 'EU' ELSE 'non-EU' END",
                other => other.name(),
            })
            .collect();
        let select_keys = if columns.is_empty() {
            String::new()
        } else {
            format!("{}, ", columns.join(", "))
        };
        let group = if columns.is_empty() {
            having
        } else {
            let positions: Vec<String> = (1..=columns.len()).map(|i| i.to_string()).collect();
            format!("GROUP BY {0} {having} ORDER BY {0}", positions.join(", "))
        };
        let sql = format!(
            "SELECT {select_keys} COUNT(*), COALESCE(SUM(bytes), 0), SUM(bytes IS NULL)
             FROM stores WHERE {} {group}",
            w.sql
        );
        let n = columns.len();
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(params_from_iter(w.params.iter()), |r| {
                let mut keys = Vec::with_capacity(n);
                for i in 0..n {
                    let v: rusqlite::types::Value = r.get(i)?;
                    keys.push(match v {
                        rusqlite::types::Value::Text(s) => s,
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        rusqlite::types::Value::Null => String::new(),
                        other => format!("{other:?}"),
                    });
                }
                Ok(SummaryRow {
                    keys,
                    stores: r.get::<_, i64>(n)? as u64,
                    bytes: r.get(n + 1)?,
                    stores_without_size: r.get::<_, Option<i64>>(n + 2)?.unwrap_or(0) as u64,
                })
            })?;
            let rows: Vec<SummaryRow> = rows.collect::<Result<_, _>>()?;
            // An empty map summarised without grouping still has one row of zeros; keep it.
            Ok(rows)
        })
    }

    fn create_token(
        &self,
        hash: &str,
        role: &str,
        tenant: Option<&str>,
        name: &str,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (hash, role, tenant, name, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, CAST(strftime('%s','now') AS INTEGER) * 1000)",
                params![hash, role, tenant, name],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, role, tenant, name FROM tokens WHERE hash = ?1 AND revoked_at_ms IS NULL",
            )?
            .query_row([hash], |r| {
                Ok(TokenRecord { id: r.get(0)?, role: r.get(1)?, tenant: r.get(2)?, name: r.get(3)? })
            })
            .optional()?)
        })
    }

    fn revoke_certificate(
        &self,
        serial: &str,
        tenant: &str,
        agent: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO revoked_certificates (serial, tenant, agent, revoked_at_ms)
                 VALUES (?1, ?2, ?3, CAST(strftime('%s','now') AS INTEGER) * 1000)",
                params![serial, tenant, agent],
            )?;
            Ok(())
        })
    }

    fn is_certificate_revoked(&self, serial: &str) -> Result<bool, StoreError> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM revoked_certificates WHERE serial = ?1")?
                    .exists([serial])?,
            )
        })
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.prepare_cached(
                "INSERT INTO audit_log (at_ms, token_id, role, tenant, method, request, rows, outcome)
                 VALUES (CAST(strftime('%s','now') AS INTEGER) * 1000, ?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![e.token_id, e.role, e.tenant, e.method, e.request, e.rows as i64, e.outcome])?;
            Ok(())
        })
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT token_id, role, tenant, method, request, rows, outcome FROM audit_log
                 ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(AuditEntry {
                    token_id: r.get(0)?,
                    role: r.get(1)?,
                    tenant: r.get(2)?,
                    method: r.get(3)?,
                    request: r.get(4)?,
                    rows: r.get::<_, i64>(5)? as u64,
                    outcome: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn other_claimants(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError> {
        self.read(|c| other_claimants(c, tenant, account))
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
