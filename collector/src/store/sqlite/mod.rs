//! The embedded SQLite store: one file, WAL mode, 16 KiB pages; one writer connection (group
//! commit), one reader for operators' queries, two planner connections on which scan ends
//! are worked out from read snapshots, and a checkpoint thread with its own connection.
//!
//! # Layout
//! - this module: opening, settings, migrations, the connections, the `stores` row writer.
//! - [`ingest`]: scans, batches, scan ends (snapshots planned outside the writer, applied
//!   in its transaction) and re-interpretation: `IngestStore`.
//! - [`group`]: group commit on the writer; per-account generations for stale plans.
//! - [`queries`]: `QueryStore` (stores, one store with its facts, summaries, changes).
//! - [`insight`]: `InsightStore` (coverage, summaries over view fields).
//! - [`trust`]: `TrustStore` (tokens, revoked certificates, audit log).
//! - [`reports`]: `ReportStore` (facts with provenance, issued reports).
//! - [`checkpoint`]: WAL checkpoints on their own thread.

use std::path::Path;
use std::sync::Mutex;

use prost::Message;
use rusqlite::{Connection, OptionalExtension, params};

use landmeter_proto::v1::StoreView;

use super::{BackendError, Durability, StoreError};

mod checkpoint;
mod group;
mod ingest;
mod insight;
mod queries;
mod reports;
mod trust;

/// The fact key the raw-insert benchmark writes with (the collector's own).
pub use super::fact_kind;
pub use insight::MAX_GAPS_PER_SCAN;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        let code = match &e {
            rusqlite::Error::SqliteFailure(f, _) => Some(f.extended_code),
            _ => None,
        };
        StoreError::Backend(BackendError {
            message: e.to_string(),
            code,
        })
    }
}

/// The writer's page cache (KiB). An 8-agent ingest touches the tails of every index at
/// once; with SQLite's 2 MiB default they are evicted and re-read between commits.
pub const WRITER_CACHE_KIB: i64 = 64 * 1024;

/// Schema migrations, applied in order at open; `meta.schema_version` says how far.
const MIGRATIONS: &[&str] = &[
    include_str!("../../../migrations/0001_init.sql"),
    include_str!("../../../migrations/0002_trust.sql"),
    include_str!("../../../migrations/0003_changes.sql"),
    include_str!("../../../migrations/0004_summary_index.sql"),
    include_str!("../../../migrations/0005_reports.sql"),
    include_str!("../../../migrations/0006_lean_ingest.sql"),
    include_str!("../../../migrations/0007_store_kind.sql"),
    include_str!("../../../migrations/0008_token_expiry.sql"),
    include_str!("../../../migrations/0009_sessions.sql"),
    include_str!("../../../migrations/0010_unknowns.sql"),
    include_str!("../../../migrations/0011_scan_requests.sql"),
    include_str!("../../../migrations/0012_enrolment.sql"),
    include_str!("../../../migrations/0013_settings.sql"),
    include_str!("../../../migrations/0014_store_counts.sql"),
    include_str!("../../../migrations/0015_view_dimensions.sql"),
];

pub struct SqliteStore {
    /// The one writing connection, with group commit (`group.rs`).
    writer: group::GroupWriter,
    reader: Mutex<Connection>,
    /// Works out scan ends outside the writer lock (`ingest.rs`), so operators' queries on
    /// `reader` do not wait for it.
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
        Self::open_migrating(path, durability, super::Migrations::Apply)
    }

    /// [`SqliteStore::open_with`], applying the missing migrations or refusing a database
    /// that lacks some.
    pub fn open_migrating(
        path: &Path,
        durability: Durability,
        migrations: super::Migrations,
    ) -> Result<Self, StoreError> {
        create_private(path)?;
        let writer = Connection::open(path)?;
        configure(&writer, durability)?;
        configure_writer(&writer)?;
        migrate(&writer, migrations)?;
        let reader = Connection::open(path)?;
        configure(&reader, durability)?;
        let planners = Planners::open(path, durability)?;
        Ok(Self {
            writer: group::GroupWriter::new(writer),
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
        f: impl FnOnce(&Connection, &group::Uncommitted<'_>) -> Result<(T, Touched), StoreError>,
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

/// Creates the database file readable by its owner only (0600), and its folder (0700) when
/// the folder does not exist yet, before SQLite opens it: SQLite gives the WAL and shared
/// memory files the database file's permissions, so the map and its journal are never
/// world-readable, not even for a moment. An existing file keeps the permissions its
/// operator gave it.
fn create_private(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
        && !dir.exists()
    {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Which accounts a write transaction changed.
pub(super) enum Touched {
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

fn migrate(conn: &Connection, migrations: super::Migrations) -> Result<(), StoreError> {
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
    if migrations == super::Migrations::Refuse && version < MIGRATIONS.len() {
        return Err(StoreError::SchemaBehind {
            at: version,
            needs: MIGRATIONS.len(),
        });
    }
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

/// Columns of `stores` holding the interpretation, in the order `write_view` binds them.
const VIEW_COLUMNS: &str = "provider, account, name, region, country, eu, custody, custody_rank,
    classification, process, jurisdiction, cloud_act, replicated_outside_eu, bytes, objects, view,
    kind, unknown_dims";

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

/// Inserts or refreshes a store seen in a scan, clearing any gone mark. Built once: the
/// statement cache is keyed by the text.
static UPSERT_SEEN: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
                "INSERT INTO stores (tenant, id, {VIEW_COLUMNS}, first_seen_ms, last_seen_ms, gone_at_ms, last_scan_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?21, ?22, ?19, ?19, NULL, ?20)
                 ON CONFLICT(tenant, id) DO UPDATE SET
                   provider = excluded.provider, account = excluded.account, name = excluded.name,
                   region = excluded.region, country = excluded.country, eu = excluded.eu,
                   custody = excluded.custody, custody_rank = excluded.custody_rank,
                   classification = excluded.classification, process = excluded.process,
                   jurisdiction = excluded.jurisdiction, cloud_act = excluded.cloud_act,
                   replicated_outside_eu = excluded.replicated_outside_eu,
                   bytes = excluded.bytes, objects = excluded.objects, view = excluded.view,
                   kind = excluded.kind, unknown_dims = excluded.unknown_dims,
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
    write_row(tx, &UPSERT_SEEN, view, view_bytes, now_ms, scan_id)
}

/// Runs `sql` (an insert or update of one `stores` row whose parameters are numbered as in
/// `UPSERT_SEEN`: tenant, id, the interpretation in `VIEW_COLUMNS` order, last seen, scan,
/// kind) with the values of `view`. One binding for every statement that writes a row.
fn write_row(
    tx: &Connection,
    sql: &str,
    view: &StoreView,
    view_bytes: &[u8],
    now_ms: i64,
    scan_id: &str,
) -> Result<(), StoreError> {
    let custody = view.custody();
    tx.prepare_cached(sql)?.execute(params![
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
        view.kind,
        crate::store::unknown_dims(view),
    ])?;
    Ok(())
}

/// The row update of a re-interpretation: the interpretation only. Numbered as
/// `UPSERT_SEEN`; 19 and 20 (last seen, scan) are bound by `write_row` and left unused, as
/// the bookkeeping stays.
const UPDATE_INTERPRETATION: &str = "UPDATE stores SET provider = ?3, account = ?4, name = ?5,
       region = ?6, country = ?7, eu = ?8, custody = ?9, custody_rank = ?10,
       classification = ?11, process = ?12, jurisdiction = ?13, cloud_act = ?14,
       replicated_outside_eu = ?15, bytes = ?16, objects = ?17, view = ?18, kind = ?21,
       unknown_dims = ?22
     WHERE tenant = ?1 AND id = ?2";

/// Replaces a store's interpretation, keeping its seen/gone bookkeeping.
fn update_interpretation(
    tx: &Connection,
    view: &StoreView,
    view_bytes: &[u8],
) -> Result<(), StoreError> {
    write_row(tx, UPDATE_INTERPRETATION, view, view_bytes, 0, "")
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_new_map_its_journal_and_its_folder_are_private_to_the_owner() {
        let root = std::env::temp_dir().join(format!("landmeter-private-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let dir = root.join("state");
        let db = dir.join("map.db");
        let store = SqliteStore::open(&db).unwrap();
        // A write, so the WAL and its shared memory exist.
        store
            .write(|c| Ok(c.execute_batch("CREATE TABLE probe (x INTEGER)")?))
            .unwrap();
        assert_eq!(mode(&dir), 0o700, "folder");
        for file in ["map.db", "map.db-wal", "map.db-shm"] {
            let path = dir.join(file);
            assert!(path.exists(), "{file} exists");
            assert_eq!(mode(&path), 0o600, "{file}");
        }
        drop(store);
        // An operator's own permissions on an existing file are kept.
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o640)).unwrap();
        drop(SqliteStore::open(&db).unwrap());
        assert_eq!(mode(&db), 0o640);
    }
}
