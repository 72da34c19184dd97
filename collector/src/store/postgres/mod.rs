//! The PostgreSQL store: the same behaviour as the SQLite one (the conformance suite runs on
//! both), on a small pool of connections, shared safely by several collectors.
//!
//! The store traits block; tokio-postgres is async. The backend owns a small tokio runtime:
//! its worker threads drive the connections (sockets, TLS), and a method's own future is
//! polled on the caller's thread ([`PostgresStore::block`]), with the runtime entered so that
//! new connections register with it. The caller's runtime, if any, is never blocked on
//! itself: no work of ours waits for a thread of the caller's runtime.
//!
//! # Layout
//! - this module: opening (URL, TLS policy, pool, runtime), migrations, errors, the `stores`
//!   row writer shared by ingest and re-interpretation.
//! - [`tls`]: TLS to the database on rustls/aws-lc-rs, and when plaintext is allowed.
//! - [`ingest`]: `IngestStore`: batches as multi-row inserts, scan ends planned on a snapshot
//!   and applied only if `UPDATE account_generations ... WHERE generation = $n` still matches.
//! - [`queries`]: `QueryStore`; [`insight`]: `InsightStore`; [`trust`]: `TrustStore`;
//!   [`reports`]: `ReportStore`.
//! - [`listen`]: `SharedFeed`: LISTEN on a connection of its own for the changes and scan
//!   requests any collector on the database commits (a change's NOTIFY is sent by [`ingest`]
//!   in its transaction); the scan requests' rows and deliveries.
//! - [`import`]: a whole map copied in from a SQLite file (`landmeter db copy`), with COPY.
//! - [`counts`]: the summary counts the triggers of migration 0014 keep, folded now and then.
//! - [`view_dims`]: the dashboard's view dimensions as columns (migration 0015), written with
//!   every store and filled in from the encoded views by the migration and `db copy`.

use std::future::Future;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use prost::Message;
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;

use landmeter_proto::v1::StoreView;

use super::{BackendError, Durability, StoreError};

mod counts;
mod import;
mod ingest;
mod insight;
mod listen;
pub use listen::LISTENER_APPLICATION_NAME;
mod queries;
mod reports;
pub use import::{CopyCounts, CopyTable, copy_table};
pub mod tls;
mod trust;
mod view_dims;

/// Connections per collector process: scan ends (a snapshot and a writer each), batches and
/// operators' reads at once, and far below a server's default limit of 100 with several
/// collectors.
pub const POOL_SIZE: usize = 8;

/// Schema migrations, applied in order at open; `meta.schema_version` says how far. Numbered
/// and named as SQLite's (`collector/migrations/`), in PostgreSQL's types.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/postgres/0001_init.sql"),
    include_str!("../../../migrations/postgres/0002_trust.sql"),
    include_str!("../../../migrations/postgres/0003_changes.sql"),
    include_str!("../../../migrations/postgres/0004_summary_index.sql"),
    include_str!("../../../migrations/postgres/0005_reports.sql"),
    include_str!("../../../migrations/postgres/0006_lean_ingest.sql"),
    include_str!("../../../migrations/postgres/0007_store_kind.sql"),
    include_str!("../../../migrations/postgres/0008_token_expiry.sql"),
    include_str!("../../../migrations/postgres/0009_sessions.sql"),
    include_str!("../../../migrations/postgres/0010_unknowns.sql"),
    include_str!("../../../migrations/postgres/0011_scan_requests.sql"),
    include_str!("../../../migrations/postgres/0012_enrolment.sql"),
    include_str!("../../../migrations/postgres/0013_settings.sql"),
    include_str!("../../../migrations/postgres/0014_store_counts.sql"),
    include_str!("../../../migrations/postgres/0015_view_dimensions.sql"),
];

/// SQLSTATEs after which a whole transaction is worth running again: a serialization
/// failure and a deadlock (PostgreSQL aborted one of the parties).
const RETRYABLE: [&str; 2] = ["40001", "40P01"];

/// Attempts of a transaction that failed with a [`RETRYABLE`] state.
const ATTEMPTS: usize = 4;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        let (message, code) = match e.as_db_error() {
            Some(db) => (
                format!("{}: {} ({})", db.severity(), db.message(), db.code().code()),
                Some(fold_sqlstate(db.code().code())),
            ),
            None => {
                let mut message = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    message.push_str(&format!(": {s}"));
                    source = s.source();
                }
                (message, None)
            }
        };
        StoreError::Backend(BackendError { message, code })
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            other => StoreError::Backend(BackendError {
                message: format!("connection pool: {other}"),
                code: None,
            }),
        }
    }
}

/// Adds `n` to `counter`; true (and the counter back at 0) once it reached `threshold`, for
/// one caller only.
fn passed(counter: &std::sync::atomic::AtomicU64, n: u64, threshold: u64) -> bool {
    use std::sync::atomic::Ordering;
    let total = counter.fetch_add(n, Ordering::Relaxed) + n;
    total >= threshold
        && counter
            .compare_exchange(total, 0, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
}

/// A SQLSTATE (five characters of 0-9A-Z) as one number: read in base 36.
pub fn fold_sqlstate(state: &str) -> i32 {
    i32::from_str_radix(state, 36).unwrap_or(-1)
}

fn is_retryable(e: &StoreError) -> bool {
    matches!(e, StoreError::Backend(BackendError { code: Some(c), .. })
        if RETRYABLE.iter().any(|s| fold_sqlstate(s) == *c))
}

pub struct PostgresStore {
    pool: Pool,
    /// How to open the listening connection ([`listen`]), outside the pool.
    listen_config: tokio_postgres::Config,
    listen_tls: tls::RustlsConnect,
    /// The wake-ups of the listening connection, once something asked for them.
    listener: std::sync::Mutex<Option<listen::Wakeups>>,
    /// Drives the connections. Shut down in the background on drop: dropping a runtime
    /// blocks, which a caller's async context forbids.
    runtime: Option<tokio::runtime::Runtime>,
    /// Stores written since this process last refreshed the planner's statistics.
    written_since_analyze: std::sync::atomic::AtomicU64,
    /// Scan ends since this process last folded the summary counts' deltas.
    scan_ends_since_fold: std::sync::atomic::AtomicU64,
}

/// Stores written after which the planner's statistics of `stores` are refreshed. Without
/// them, right after a bulk load the planner takes the custody filter for rare and sorts the
/// whole table for each list page (measured: 196 ms a page on 200k stores before ANALYZE,
/// 1 ms after); autovacuum gets there too, but only a while later.
const ANALYZE_AFTER_STORES: u64 = 20_000;

impl PostgresStore {
    /// Connects to the database a `postgres://` or `postgresql://` URL names and migrates it.
    /// TLS as [`tls::connect_config`] decides.
    pub fn open(url: &str, durability: Durability) -> Result<Self, StoreError> {
        Self::open_migrating(url, durability, super::Migrations::Apply)
    }

    /// [`PostgresStore::open`], applying the missing migrations or refusing a database that
    /// lacks some.
    pub fn open_migrating(
        url: &str,
        durability: Durability,
        migrations: super::Migrations,
    ) -> Result<Self, StoreError> {
        let (mut config, tls) = tls::connect_config(url)?;
        if durability == Durability::Normal {
            // A commit is acknowledged once the server has it, before its WAL is flushed: it
            // survives the collector, not a crash of the database server.
            config.options("-c synchronous_commit=off");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("postgres-io")
            .enable_all()
            .build()?;
        let (listen_config, listen_tls) = (config.clone(), tls.clone());
        let manager = Manager::from_config(
            config,
            tls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_SIZE)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(|e| {
                StoreError::Backend(BackendError {
                    message: format!("connection pool: {e}"),
                    code: None,
                })
            })?;
        let store = Self {
            pool,
            listen_config,
            listen_tls,
            listener: std::sync::Mutex::new(None),
            runtime: Some(runtime),
            written_since_analyze: std::sync::atomic::AtomicU64::new(0),
            scan_ends_since_fold: std::sync::atomic::AtomicU64::new(0),
        };
        match migrations {
            super::Migrations::Apply => store.migrate()?,
            super::Migrations::Refuse => {
                let at = store.schema_version_if_any()?;
                if at < MIGRATIONS.len() {
                    return Err(StoreError::SchemaBehind {
                        at,
                        needs: MIGRATIONS.len(),
                    });
                }
            }
        }
        Ok(store)
    }

    /// Called after every scan end with the stores it wrote. Past [`ANALYZE_AFTER_STORES`]
    /// stores, refreshes the statistics of `stores` in the background (ANALYZE samples; it
    /// takes no lock that blocks writers); every [`counts::FOLD_AFTER_SCAN_ENDS`] scan ends,
    /// folds the summary counts' deltas.
    fn note_written(&self, stores: u64) {
        let analyze = passed(&self.written_since_analyze, stores, ANALYZE_AFTER_STORES);
        let fold = passed(&self.scan_ends_since_fold, 1, counts::FOLD_AFTER_SCAN_ENDS);
        if !analyze && !fold {
            return;
        }
        let Some(runtime) = self.runtime.as_ref() else {
            return;
        };
        let pool = self.pool.clone();
        runtime.spawn(async move {
            let result = match pool.get().await {
                Ok(client) => {
                    let mut result = Ok(());
                    if fold {
                        result = counts::fold(&client).await.map(|_| ());
                    }
                    if analyze && result.is_ok() {
                        result = client.batch_execute("ANALYZE stores").await;
                    }
                    result.map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            if let Err(e) = result {
                // The next scan ends try again; summaries are exact meanwhile.
                tracing::debug!(error = %e, "folding the summary counts or ANALYZE failed");
            }
        });
    }

    /// Runs a future of ours to completion on the calling thread, with the backend's runtime
    /// entered (connections made meanwhile are driven by its workers).
    fn block<F: Future>(&self, future: F) -> F::Output {
        let _entered = self
            .runtime
            .as_ref()
            .expect("the runtime lives as long as the store")
            .enter();
        futures::executor::block_on(future)
    }

    /// A pooled connection.
    fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        Ok(self.block(self.pool.get())?)
    }

    /// Runs `f` (one transaction, begun and committed by `f`) again when PostgreSQL aborted
    /// it for a deadlock or a serialization failure.
    fn retrying<T>(&self, mut f: impl FnMut() -> Result<T, StoreError>) -> Result<T, StoreError> {
        let mut attempt = 1;
        loop {
            match f() {
                Err(e) if attempt < ATTEMPTS && is_retryable(&e) => {
                    tracing::debug!(error = %e, attempt, "transaction aborted by the database; retried");
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    /// One statement on a pooled connection, outside any explicit transaction.
    fn query(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, StoreError> {
        let client = self.client()?;
        self.block(async {
            let stmt = client.prepare_cached(sql).await?;
            Ok(client.query(&stmt, params).await?)
        })
    }

    fn execute(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.client()?;
        self.block(async {
            let stmt = client.prepare_cached(sql).await?;
            Ok(client.execute(&stmt, params).await?)
        })
    }

    /// Applies the migrations not applied yet, each in its own transaction with its version.
    /// Several collectors starting at once: the table lock makes the others wait, then they
    /// find the work done.
    fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client()?;
        // Two collectors creating `meta` at the same moment: one fails on the catalogue's
        // unique index; the table is there when it tries again.
        self.retrying(|| {
            self.block(client.batch_execute(
                "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            ))
            .map_err(StoreError::from)
            .or_else(|e| match &e {
                StoreError::Backend(BackendError { code: Some(c), .. })
                    if *c == fold_sqlstate("23505") || *c == fold_sqlstate("42P07") =>
                {
                    Ok(())
                }
                _ => Err(e),
            })
        })?;
        loop {
            let tx = self.block(client.transaction())?;
            self.block(tx.batch_execute("LOCK TABLE meta IN SHARE ROW EXCLUSIVE MODE"))?;
            let version: usize = self
                .block(tx.query_opt("SELECT value FROM meta WHERE key = 'schema_version'", &[]))?
                .and_then(|r| r.get::<_, String>(0).parse().ok())
                .unwrap_or(0);
            let Some(sql) = MIGRATIONS.get(version) else {
                self.block(tx.commit())?;
                return Ok(());
            };
            self.block(tx.batch_execute(sql))?;
            if version + 1 == view_dims::MIGRATION {
                let filled = self.block(view_dims::backfill(&tx))?;
                tracing::info!(stores = filled, "filled in the view dimensions (postgres)");
            }
            self.block(tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', $1)
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                &[&(version + 1).to_string()],
            ))?;
            self.block(tx.commit())?;
            tracing::info!(version = version + 1, "applied schema migration (postgres)");
        }
    }

    /// The schema version of a database that may have no `meta` table yet (0).
    fn schema_version_if_any(&self) -> Result<usize, StoreError> {
        let exists = self.query("SELECT to_regclass('meta') IS NOT NULL", &[])?;
        if !exists.first().is_some_and(|r| r.get::<_, bool>(0)) {
            return Ok(0);
        }
        self.schema_version()
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let rows = self.query("SELECT value FROM meta WHERE key = 'schema_version'", &[])?;
        Ok(rows
            .first()
            .and_then(|r| r.get::<_, String>(0).parse().ok())
            .unwrap_or(0))
    }
}

impl Drop for PostgresStore {
    fn drop(&mut self) {
        self.pool.close();
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// Columns of `stores` holding the interpretation, in the order [`ViewColumns`] binds them.
const VIEW_COLUMNS: &str = "provider, account, name, region, country, eu, custody, custody_rank,
    classification, process, jurisdiction, cloud_act, replicated_outside_eu, bytes, objects, view,
    kind, unknown_dims, provider_parent, sov2, sov3";

/// Views to write, one array per column: bound as `unnest($n::type[], ...)` so a whole write
/// set is one statement.
#[derive(Default)]
struct ViewColumns<'a> {
    tenant: Vec<&'a str>,
    id: Vec<&'a str>,
    provider: Vec<&'a str>,
    account: Vec<&'a str>,
    name: Vec<&'a str>,
    region: Vec<&'a str>,
    country: Vec<&'a str>,
    eu: Vec<bool>,
    custody: Vec<&'static str>,
    custody_rank: Vec<i32>,
    classification: Vec<&'a str>,
    process: Vec<&'a str>,
    jurisdiction: Vec<&'a str>,
    cloud_act: Vec<&'a str>,
    replicated_outside_eu: Vec<bool>,
    bytes: Vec<Option<i64>>,
    objects: Vec<Option<i64>>,
    view: Vec<&'a [u8]>,
    kind: Vec<&'a str>,
    unknown_dims: Vec<String>,
    provider_parent: Vec<&'a str>,
    sov2: Vec<Option<i16>>,
    sov3: Vec<Option<i16>>,
}

/// The `unnest(...)` of [`ViewColumns::params`], as `u(tenant, id, <VIEW_COLUMNS>)`.
const UNNEST_VIEWS: &str = "unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
    $6::text[], $7::text[], $8::bool[], $9::text[], $10::int4[], $11::text[], $12::text[],
    $13::text[], $14::text[], $15::bool[], $16::int8[], $17::int8[], $18::bytea[], $19::text[],
    $20::text[], $21::text[], $22::int2[], $23::int2[])
    AS u(tenant, id, provider, account, name, region, country, eu, custody, custody_rank,
         classification, process, jurisdiction, cloud_act, replicated_outside_eu, bytes, objects,
         view, kind, unknown_dims, provider_parent, sov2, sov3)";

impl<'a> ViewColumns<'a> {
    fn push(&mut self, view: &'a StoreView, bytes: &'a [u8]) {
        let custody = view.custody();
        self.tenant.push(&view.tenant);
        self.id.push(&view.id);
        self.provider.push(&view.provider);
        self.account.push(&view.account);
        self.name.push(&view.name);
        self.region.push(&view.region);
        self.country.push(&view.country);
        self.eu.push(view.eu);
        self.custody.push(custody.label());
        self.custody_rank.push(custody.rank());
        self.classification.push(&view.classification);
        self.process.push(&view.process);
        self.jurisdiction.push(&view.jurisdiction);
        self.cloud_act.push(&view.cloud_act);
        self.replicated_outside_eu.push(view.replicated_outside_eu);
        self.bytes.push(view.bytes);
        self.objects.push(view.objects);
        self.view.push(bytes);
        self.kind.push(&view.kind);
        self.unknown_dims.push(crate::store::unknown_dims(view));
        let dims = view_dims::ViewDims::of(view);
        self.provider_parent.push(dims.provider_parent);
        self.sov2.push(dims.sov2);
        self.sov3.push(dims.sov3);
    }

    fn is_empty(&self) -> bool {
        self.id.is_empty()
    }

    /// Parameters $1..$23 of [`UNNEST_VIEWS`].
    fn params(&self) -> [&(dyn ToSql + Sync); 23] {
        [
            &self.tenant,
            &self.id,
            &self.provider,
            &self.account,
            &self.name,
            &self.region,
            &self.country,
            &self.eu,
            &self.custody,
            &self.custody_rank,
            &self.classification,
            &self.process,
            &self.jurisdiction,
            &self.cloud_act,
            &self.replicated_outside_eu,
            &self.bytes,
            &self.objects,
            &self.view,
            &self.kind,
            &self.unknown_dims,
            &self.provider_parent,
            &self.sov2,
            &self.sov3,
        ]
    }
}

/// A view from a `stores` row with `view, first_seen_ms, last_seen_ms, gone_at_ms,
/// last_scan_id`: the stored interpretation with its bookkeeping filled in.
fn view_from_row(r: &Row) -> Result<StoreView, StoreError> {
    let body: &[u8] = r.try_get("view")?;
    let mut v = StoreView::decode(body)?;
    v.first_seen_ms = r.try_get("first_seen_ms")?;
    v.last_seen_ms = r.try_get("last_seen_ms")?;
    v.gone_at_ms = r.try_get("gone_at_ms")?;
    v.last_scan_id = r.try_get("last_scan_id")?;
    Ok(v)
}

/// Tenants (other than `tenant`) that also reported `account`.
const OTHER_CLAIMANTS: &str =
    "SELECT tenant FROM account_claims WHERE account = $1 AND tenant <> $2 ORDER BY tenant";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_fold_to_distinct_numbers() {
        assert_eq!(fold_sqlstate("00000"), 0);
        assert_ne!(fold_sqlstate("40001"), fold_sqlstate("40P01"));
        assert!(fold_sqlstate("40P01") > 0);
        assert_eq!(fold_sqlstate("bad!"), -1);
    }
}
