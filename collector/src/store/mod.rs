//! Persistence of facts, scans and the interpreted map. The only module that knows SQL.
//!
//! # Layout
//! - this module: the store boundary, split by role so a backend implements small traits:
//!   [`IngestStore`] (scans, batches, the scan end's snapshot and writes), [`QueryStore`]
//!   (stores, summaries, changes), [`InsightStore`] (coverage, view summaries),
//!   [`TrustStore`] (tokens, revoked certificates, audit), [`reports::ReportStore`] (facts
//!   with provenance, issued reports); [`MapStore`] is all of them. Backend-neutral errors
//!   and query types; [`open`] picks the backend from the database URL.
//! - [`snapshot`]: what crosses the boundary at a scan's end: an account's read snapshot in,
//!   the write set (views, change events, gone marks) out. The interpretation that turns one
//!   into the other is `crate::scan_end`'s, never a backend's.
//! - [`sqlite`]: the embedded default.
//! - [`postgres`]: PostgreSQL, for maps beyond one machine and several collectors.
//!
//! Invariants every backend keeps (tested once for all backends: the conformance suite in
//! `collector/tests/it/conformance/`):
//! - a batch is committed atomically with its (tenant, scan, seq) marker, so a resend is
//!   recognised and never stored twice;
//! - a scan ends only when every batch from 1 to its count has been committed, and only by
//!   the agent that began it;
//! - after a complete scan of an account, the account's stores it did not see are marked
//!   gone (kept, with `gone_at`), never deleted;
//! - change events are recorded in the transaction that makes them.

pub mod postgres;
pub mod reports;
pub mod snapshot;
pub mod sqlite;

use std::sync::Arc;

use landmeter_proto::v1::{
    ChangeEvent, FactsBatch, GetStoreResponse, ScanBegin, ScanEnd, StoreFilter, StoreView,
    SummaryRow,
};

pub use reports::ReportStore;
pub use snapshot::{
    AccountFact, AccountPlanner, AccountSnapshot, AccountWrites, EncodedView, PendingChange,
    fact_kind,
};

/// Why a store operation failed. Backend-neutral: a backend's own error becomes
/// [`StoreError::Backend`] with its message and, where it has one, its numeric code.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Backend(BackendError),
    #[error("scan {0} was never begun")]
    UnknownScan(String),
    #[error("scan {scan_id} belongs to another agent")]
    ScanOwnedElsewhere { scan_id: String },
    #[error("scan {scan_id} ends after {declared} batches but {committed} were committed")]
    MissingBatches {
        scan_id: String,
        declared: u64,
        committed: u64,
    },
    #[error("stored fact cannot be decoded: {0}")]
    Corrupt(#[from] prost::DecodeError),
    #[error("unknown group-by field {0:?}")]
    UnknownField(String),
    #[error("invalid page token")]
    BadPageToken,
    #[error("database lock poisoned")]
    Poisoned,
    #[error("{0}")]
    Forbidden(String),
    #[error("store {id:?} exists in several tenants ({}): name the tenant", .tenants.join(", "))]
    AmbiguousStore { id: String, tenants: Vec<String> },
    /// A name an operator typed that names nothing (a misspelt provider would otherwise
    /// answer 0 stores, silently).
    #[error("unknown {what} {given:?}; known: {}", if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    UnknownName {
        what: &'static str,
        given: String,
        known: Vec<String>,
    },
    /// A report asked of a tenant no scan has reported.
    #[error("tenant {tenant:?} has no scan to report on; tenants with scans: {}", if .known.is_empty() { "none".to_owned() } else { .known.join(", ") })]
    NoScans { tenant: String, known: Vec<String> },
    /// `serve --no-migrate` on a database whose schema is older than this collector's.
    #[error(
        "the database is at schema version {at}, this collector needs {needs}: run `landmeter db migrate --db ...` first (serve --no-migrate applies no migration)"
    )]
    SchemaBehind { at: usize, needs: usize },
    #[error("unsupported database URL {0:?}")]
    UnsupportedUrl(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// A backend's own failure, as text and code (SQLite's extended result code, a PostgreSQL
/// SQLSTATE folded to a number, ...), so no backend's error type crosses the boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendError {
    pub message: String,
    pub code: Option<i32>,
}

impl std::fmt::Display for BackendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// Where the map is kept: a SQLite file (`map.db`, `sqlite:map.db`, `sqlite://map.db`) or a
/// PostgreSQL URL (`postgres://` or `postgresql://`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(std::path::PathBuf),
    Postgres(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return DatabaseUrl::Postgres(url.to_owned());
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        DatabaseUrl::Sqlite(path.into())
    }
}

/// Whether opening a store applies the schema migrations it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Apply them (the default: `serve`, every CLI command, tests).
    Apply,
    /// Apply none; a database behind this build's schema is refused with
    /// [`StoreError::SchemaBehind`] (`serve --no-migrate`, when an operator migrates
    /// explicitly with `landmeter db migrate` before rolling out several collectors).
    Refuse,
}

/// Opens (creating and migrating if needed) the store a database URL names.
pub fn open(url: &str, durability: Durability) -> Result<Arc<dyn MapStore>, StoreError> {
    open_with(url, durability, Migrations::Apply)
}

/// [`open`], choosing whether missing migrations are applied.
pub fn open_with(
    url: &str,
    durability: Durability,
    migrations: Migrations,
) -> Result<Arc<dyn MapStore>, StoreError> {
    match DatabaseUrl::parse(url) {
        DatabaseUrl::Sqlite(path) => Ok(Arc::new(sqlite::SqliteStore::open_migrating(
            &path, durability, migrations,
        )?)),
        DatabaseUrl::Postgres(url) => Ok(Arc::new(postgres::PostgresStore::open_migrating(
            &url, durability, migrations,
        )?)),
    }
}

/// The URL as it may be shown: a PostgreSQL URL without its password.
pub fn redacted_url(url: &str) -> String {
    match DatabaseUrl::parse(url) {
        DatabaseUrl::Postgres(url) => postgres::tls::redact(&url),
        DatabaseUrl::Sqlite(_) => url.to_owned(),
    }
}

/// Opens the database a URL names, applying the migrations it lacks (as [`open`] does), and
/// says at which schema version it is now.
pub fn migrate(url: &str) -> Result<usize, StoreError> {
    match DatabaseUrl::parse(url) {
        DatabaseUrl::Sqlite(path) => {
            drop(sqlite::SqliteStore::open(&path)?);
            let conn = rusqlite::Connection::open(&path)?;
            let version: String = conn.query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |r| r.get(0),
            )?;
            Ok(version.parse().unwrap_or(0))
        }
        DatabaseUrl::Postgres(url) => {
            postgres::PostgresStore::open(&url, Durability::Full)?.schema_version()
        }
    }
}

/// Writes a consistent copy of a SQLite map to `dest` while a collector may be writing it
/// (SQLite's `VACUUM INTO`: one read transaction, compacted), the file created 0600 like the
/// map. PostgreSQL is backed up with its own tools (`pg_dump`).
pub fn backup(url: &str, dest: &std::path::Path) -> Result<(), StoreError> {
    match DatabaseUrl::parse(url) {
        DatabaseUrl::Sqlite(path) => {
            use std::os::unix::fs::OpenOptionsExt as _;
            // Created empty and private first: VACUUM INTO fills an empty file.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(dest)?;
            let conn = rusqlite::Connection::open_with_flags(
                &path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            let target = dest.to_string_lossy().into_owned();
            if let Err(e) = conn.execute("VACUUM INTO ?1", [&target]) {
                let _ = std::fs::remove_file(dest);
                return Err(e.into());
            }
            Ok(())
        }
        DatabaseUrl::Postgres(_) => Err(StoreError::UnsupportedUrl(format!(
            "{}: back up PostgreSQL with pg_dump (README, PostgreSQL)",
            redacted_url(url)
        ))),
    }
}

/// Copies the whole map of a SQLite file into an empty PostgreSQL database (the way from the
/// embedded store to a shared one); returns the rows copied per table.
pub fn copy(from: &str, to: &str) -> Result<postgres::CopyCounts, StoreError> {
    match (DatabaseUrl::parse(from), DatabaseUrl::parse(to)) {
        (DatabaseUrl::Sqlite(source), DatabaseUrl::Postgres(target)) => {
            postgres::PostgresStore::open(&target, Durability::Full)?.import_sqlite(&source)
        }
        _ => Err(StoreError::UnsupportedUrl(format!(
            "copy from {} to {}: a map is copied from a SQLite file to a PostgreSQL database",
            redacted_url(from),
            redacted_url(to)
        ))),
    }
}

/// When a committed transaction is on disk.
///
/// Both keep the ingest invariant for a crash of the collector process: a batch is
/// acknowledged only after its transaction committed, and a committed transaction survives
/// the process. They differ on a power cut or kernel crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// Every commit is synced to disk before it is acknowledged: an acknowledged batch
    /// survives a power cut.
    #[default]
    Full,
    /// Commits are synced at checkpoints (SQLite WAL with `synchronous = NORMAL`). An
    /// acknowledged batch survives a crash of the collector process; a power cut or kernel
    /// crash may roll the database back to its last sync (the last transactions are lost
    /// whole, the file is never corrupt): a scan whose batches were lost is refused at its
    /// end, and a finished scan lost whole is restored by the next scan.
    Normal,
}

/// A stored operator token (its hash only, never listed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenRecord {
    pub id: i64,
    pub role: String,
    pub tenant: Option<String>,
    pub name: String,
    pub created_at_ms: i64,
    /// None: never expires (only tokens created so on purpose).
    pub expires_at_ms: Option<i64>,
    pub revoked_at_ms: Option<i64>,
}

/// A one-time enrolment token (its hash only, never listed).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnrolmentToken {
    pub id: i64,
    pub tenant: String,
    /// The agent name it binds; None: the enrolling agent names itself.
    pub agent: Option<String>,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
    /// When it was used (it is used once, never again).
    pub used_at_ms: Option<i64>,
}

/// An agent certificate the collector signed (enrolment or renewal).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AgentCertificate {
    pub serial: String,
    pub tenant: String,
    pub agent: String,
    pub issued_at_ms: i64,
    pub not_after_ms: i64,
    /// The certificate this one renewed (None: enrolled).
    pub renewed_from: Option<String>,
}

/// One audited operator query.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub token_id: Option<i64>,
    pub role: String,
    pub tenant: Option<String>,
    pub method: String,
    pub request: String,
    pub rows: u64,
    pub outcome: String,
}

/// What committing a batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchOutcome {
    Committed,
    /// The same (tenant, scan, seq) had been committed before: nothing was written.
    Duplicate,
}

/// What finishing a scan did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanOutcome {
    pub stores_interpreted: usize,
    pub stores_gone: usize,
    /// The scan had been finished before (a resent ScanEnd).
    pub already_finished: bool,
    /// The changes it recorded, committed with it, for watchers.
    pub changes: Vec<ChangeEvent>,
}

/// Which tenants a query may see.
#[derive(Debug, Clone)]
pub enum Scope {
    AllTenants,
    Tenant(String),
    /// Aggregates only, each row over at least this many tenants.
    Pool {
        min_tenants: u32,
    },
}

/// Fields a summary can be grouped by, each a column of the map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupField {
    Tenant,
    Provider,
    Account,
    Region,
    Country,
    Eu,
    Jurisdiction,
    CloudAct,
    Custody,
    Classification,
    Process,
    Kind,
    /// Whether a copy is outside the EU/EEA: "outside-EU", "EU-or-none", "unknown".
    Replication,
    /// Whether every dimension but the size could be read: "complete", "incomplete".
    Readable,
}

impl GroupField {
    pub const ALL: [GroupField; 14] = [
        GroupField::Tenant,
        GroupField::Provider,
        GroupField::Account,
        GroupField::Region,
        GroupField::Country,
        GroupField::Eu,
        GroupField::Jurisdiction,
        GroupField::CloudAct,
        GroupField::Custody,
        GroupField::Classification,
        GroupField::Process,
        GroupField::Kind,
        GroupField::Replication,
        GroupField::Readable,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GroupField::Tenant => "tenant",
            GroupField::Provider => "provider",
            GroupField::Account => "account",
            GroupField::Region => "region",
            GroupField::Country => "country",
            GroupField::Eu => "eu",
            GroupField::Jurisdiction => "jurisdiction",
            GroupField::CloudAct => "cloud_act",
            GroupField::Custody => "custody",
            GroupField::Classification => "classification",
            GroupField::Process => "process",
            GroupField::Kind => "kind",
            GroupField::Replication => "replication",
            GroupField::Readable => "readable",
        }
    }

    /// The row key this field gives `view`: the value of its column in `stores`, as
    /// `summary` groups it (EU as "EU"/"non-EU"/"unknown", custody by its label).
    pub fn key(self, view: &StoreView) -> String {
        match self {
            GroupField::Tenant => view.tenant.clone(),
            GroupField::Provider => view.provider.clone(),
            GroupField::Account => view.account.clone(),
            GroupField::Region => view.region.clone(),
            GroupField::Country => view.country.clone(),
            GroupField::Eu => match view.eu_known() {
                Some(true) => "EU",
                Some(false) => "non-EU",
                None => "unknown",
            }
            .to_owned(),
            GroupField::Jurisdiction => view.jurisdiction.clone(),
            GroupField::CloudAct => view.cloud_act.clone(),
            GroupField::Custody => view.custody().label().to_owned(),
            GroupField::Classification => view.classification.clone(),
            GroupField::Process => view.process.clone(),
            GroupField::Kind => view.kind.clone(),
            GroupField::Replication => match view.replicated_outside_eu_known() {
                Some(true) => "outside-EU",
                Some(false) => "EU-or-none",
                None => "unknown",
            }
            .to_owned(),
            GroupField::Readable => if view
                .unknowns
                .iter()
                .all(|u| u.dimension == landmeter_proto::dimension::SIZE)
            {
                "complete"
            } else {
                "incomplete"
            }
            .to_owned(),
        }
    }

    /// The SQL expression of [`GroupField::key`] over the `stores` table, the same text for
    /// every backend (SQLite's integer booleans and PostgreSQL's booleans both test as
    /// `WHEN column THEN`): unknown counted apart, never folded into "no".
    pub fn sql_key(self) -> &'static str {
        match self {
            GroupField::Eu => {
                "CASE WHEN country = '' THEN 'unknown' WHEN eu THEN 'EU' ELSE 'non-EU' END"
            }
            GroupField::Replication => {
                "CASE WHEN replicated_outside_eu THEN 'outside-EU' \
                 WHEN unknown_dims LIKE '%,replication,%' THEN 'unknown' \
                 ELSE 'EU-or-none' END"
            }
            GroupField::Readable => {
                "CASE WHEN unknown_dims IN ('', ',size,') THEN 'complete' ELSE 'incomplete' END"
            }
            other => other.name(),
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s.trim())
            .ok_or_else(|| StoreError::UnknownField(s.to_owned()))
    }
}

/// One scan as the coverage page shows it: what it covered and which calls failed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScanCoverage {
    pub tenant: String,
    pub scan_id: String,
    pub agent: String,
    pub provider: String,
    pub accounts: Vec<String>,
    pub started_at_ms: Option<i64>,
    /// None while the scan has not ended.
    pub ended_at_ms: Option<i64>,
    /// Ended, and every account's listing was complete.
    pub complete: bool,
    pub account_coverage: Vec<AccountCoverageRecord>,
    /// Gap facts this scan recorded that are still stored (a later scan's answer for the
    /// same subject supersedes them).
    pub gaps: Vec<GapRecord>,
    /// More gaps were recorded than listed (`sqlite::MAX_GAPS_PER_SCAN`).
    pub gaps_truncated: bool,
}

/// A stored answer about an account or region setting: a `Setting` fact, or the gap fact of
/// a setting's read (topic `FACT_TOPIC_SETTING`). Interpreted by `map::settings`.
#[derive(Debug, Clone, PartialEq)]
pub struct SettingFact {
    pub tenant: String,
    pub fact: landmeter_proto::v1::Fact,
}

/// Most setting answers one `settings` call returns (a few per region and account).
pub const MAX_SETTING_FACTS: usize = 100_000;

/// Which tenant a settings query reads: `Ok(None)` when the scope allows nothing of what was
/// asked (a tenant role naming another tenant), `Ok(Some(None))` for every tenant.
pub(crate) fn settings_tenant<'a>(
    scope: &'a Scope,
    tenant: Option<&'a str>,
) -> Result<Option<Option<&'a str>>, StoreError> {
    match (scope, tenant) {
        (Scope::Pool { .. }, _) => Err(StoreError::Forbidden(
            "the pool role reads aggregates only".into(),
        )),
        (Scope::Tenant(own), Some(t)) if t != own => Ok(None),
        (Scope::Tenant(own), _) => Ok(Some(Some(own.as_str()))),
        (Scope::AllTenants, t) => Ok(Some(t)),
    }
}

/// A stored fact body as a [`SettingFact`] when it is a setting or the gap of a setting's
/// read; `None` for every other gap.
pub(crate) fn setting_fact(tenant: String, body: &[u8]) -> Result<Option<SettingFact>, StoreError> {
    use landmeter_proto::v1::{FactTopic, fact::Body};
    use prost::Message;
    let fact = landmeter_proto::v1::Fact::decode(body)?;
    let keep = match &fact.body {
        Some(Body::Setting(_)) => true,
        Some(Body::Gap(g)) => g.topic() == FactTopic::Setting,
        _ => false,
    };
    Ok(keep.then_some(SettingFact { tenant, fact }))
}

/// One account's coverage line as the scan's end reported it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct AccountCoverageRecord {
    pub account: String,
    pub complete: bool,
    pub stores_seen: u64,
    pub gaps: u64,
    pub reason: String,
}

/// One failed call.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GapRecord {
    pub account: String,
    /// The store's region when the subject is a known store; empty otherwise.
    pub region: String,
    pub call: String,
    pub subject: String,
    pub kind: String,
    pub code: String,
    pub message: String,
}

/// A dimension read from the stored views rather than a column (no index behind it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ViewDimension {
    ProviderParent,
    Sov2,
    Sov3,
}

impl ViewDimension {
    /// The row key of a view: the provider's parent, or an indicator level "0".."4" and
    /// "unknown" when the view has none (unknown is never a level).
    pub fn key(self, view: &StoreView) -> String {
        let level = |l: Option<i32>| l.map_or_else(|| "unknown".to_owned(), |l| l.to_string());
        match self {
            ViewDimension::ProviderParent => view.provider_parent.clone(),
            ViewDimension::Sov2 => level(view.sov2_indicator),
            ViewDimension::Sov3 => level(view.sov3_indicator),
        }
    }
}

/// The `unknown_dims` column of a view: ",replication,size," (commas around each, so a
/// dimension is matched with `LIKE '%,name,%'`), "" when every dimension is known.
pub fn unknown_dims(view: &StoreView) -> String {
    if view.unknowns.is_empty() {
        return String::new();
    }
    let mut out = String::from(",");
    for u in &view.unknowns {
        out.push_str(&u.dimension);
        out.push(',');
    }
    out
}

/// Summary rows per view dimension, accumulated view by view: SQLite's `summary_by_view`
/// once it has streamed the selected views, and the conformance suite's reference for any
/// backend that reads them from elsewhere (PostgreSQL: its counts).
pub struct ViewGroups<'a> {
    dimensions: &'a [ViewDimension],
    groups: Vec<std::collections::BTreeMap<String, ViewAcc>>,
}

#[derive(Default)]
struct ViewAcc {
    tenants: std::collections::BTreeSet<String>,
    stores: u64,
    bytes: i64,
    without: u64,
}

impl<'a> ViewGroups<'a> {
    pub fn new(dimensions: &'a [ViewDimension]) -> Self {
        ViewGroups {
            dimensions,
            groups: dimensions.iter().map(|_| Default::default()).collect(),
        }
    }

    pub fn add(&mut self, tenant: &str, view: &StoreView) {
        for (d, group) in self.dimensions.iter().zip(self.groups.iter_mut()) {
            let acc = group.entry(d.key(view)).or_default();
            if !acc.tenants.contains(tenant) {
                acc.tenants.insert(tenant.to_owned());
            }
            acc.stores += 1;
            acc.bytes += view.bytes.unwrap_or(0);
            acc.without += u64::from(view.size_unknown());
        }
    }

    /// The rows per dimension; for the pool, a row over fewer than k tenants is left out.
    pub fn rows(self, scope: &Scope) -> Vec<Vec<SummaryRow>> {
        let min_tenants = match scope {
            Scope::Pool { min_tenants } => *min_tenants as usize,
            _ => 0,
        };
        self.groups
            .into_iter()
            .map(|group| {
                group
                    .into_iter()
                    .filter(|(_, a)| a.tenants.len() >= min_tenants)
                    .map(|(key, a)| SummaryRow {
                        keys: vec![key],
                        stores: a.stores,
                        bytes: a.bytes,
                        stores_without_size: a.without,
                        withheld_cells: 0,
                    })
                    .collect()
            })
            .collect()
    }
}

/// Every store the scope and filter select, paged through [`QueryStore::list_stores`].
pub fn all_stores(
    store: &dyn QueryStore,
    scope: &Scope,
    filter: &StoreFilter,
) -> Result<Vec<StoreView>, StoreError> {
    /// Stores per page while reading them all.
    const PAGE: usize = 1_000;
    let mut out = Vec::new();
    let mut token = String::new();
    loop {
        let (page, next) = store.list_stores(scope, filter, PAGE, &token)?;
        out.extend(page);
        if next.is_empty() {
            return Ok(out);
        }
        token = next;
    }
}

/// Read-only queries behind the insight pages (dashboard, coverage). Scoped like the rest.
pub trait InsightStore {
    /// The newest scans first, at most `limit`, optionally of one tenant. Refused for the
    /// pool role (scans identify tenants).
    fn scan_coverage(
        &self,
        scope: &Scope,
        tenant: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ScanCoverage>, StoreError>;

    /// The stored answers about account and region settings (newest per subject and call,
    /// as the facts table keeps them), optionally of one tenant, at most
    /// [`MAX_SETTING_FACTS`]. Refused for the pool role (settings identify accounts).
    fn settings(&self, scope: &Scope, tenant: Option<&str>)
    -> Result<Vec<SettingFact>, StoreError>;

    /// Summary rows keyed by dimensions of the stored views, one list per dimension, with
    /// the same scope and filter rules as [`QueryStore::summary`] (the pool sees only rows over
    /// at least k tenants).
    fn summary_by_view(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        dimensions: &[ViewDimension],
    ) -> Result<Vec<Vec<SummaryRow>>, StoreError>;
}

/// Scans and their batches; the scan end and re-interpretation apply what a planner (the
/// scan-end use case) works out from the backend's snapshots. Methods block; async callers
/// use `spawn_blocking`.
pub trait IngestStore: Send + Sync {
    /// Records a scan's start. Beginning the same scan again (after a reconnect) is allowed
    /// for the agent that began it; another agent is refused.
    fn begin_scan(&self, tenant: &str, agent: &str, begin: &ScanBegin) -> Result<(), StoreError>;

    /// Highest sequence number committed for a scan, 0 when none.
    fn last_seq(&self, tenant: &str, scan_id: &str) -> Result<u64, StoreError>;

    /// Commits a batch of facts atomically, or recognises it as already committed. Only
    /// the agent that began the scan may add to it.
    fn commit_batch(
        &self,
        tenant: &str,
        agent: &str,
        batch: &FactsBatch,
    ) -> Result<BatchOutcome, StoreError>;

    /// Ends a scan in one transaction: refused unless `agent` began it and batches 1..n are
    /// all committed; then, for every account it covered, the planner's writes on a
    /// snapshot of that account (facts of older scans it supersedes dropped, seen stores
    /// written with `now_ms`, gone marks, change events) and the scan's coverage. A scan
    /// ended before is answered `already_finished` and writes nothing.
    fn finish_scan(
        &self,
        tenant: &str,
        agent: &str,
        end: &ScanEnd,
        now_ms: i64,
        planner: &dyn AccountPlanner,
    ) -> Result<ScanOutcome, StoreError>;

    /// Applies the planner's writes to every stored account (re-interpretation after a
    /// reference table or a tag convention changed); first/last seen and gone marks stay.
    /// Returns the number of stores rewritten.
    fn reinterpret_all(&self, planner: &dyn AccountPlanner) -> Result<usize, StoreError>;

    /// A fingerprint of the interpretation the map was last built with.
    fn interpretation_fingerprint(&self) -> Result<Option<String>, StoreError>;
    fn set_interpretation_fingerprint(&self, fingerprint: &str) -> Result<(), StoreError>;
}

/// Operators' reads of the map, each filtered by the caller's [`Scope`] again.
pub trait QueryStore: Send + Sync {
    /// Recorded changes at or after `since_ms` with an id above `after_id`, oldest first.
    fn list_changes(
        &self,
        scope: &Scope,
        since_ms: i64,
        after_id: i64,
        limit: usize,
        filter: &StoreFilter,
    ) -> Result<Vec<ChangeEvent>, StoreError>;

    /// A page of stores in (tenant, id) order; the token resumes after the last one.
    fn list_stores(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        page_size: usize,
        page_token: &str,
    ) -> Result<(Vec<StoreView>, String), StoreError>;

    /// One store with the facts it rests on. A store id is unique within its tenant only:
    /// when the scope sees it in several tenants the answer is
    /// [`StoreError::AmbiguousStore`] naming them, never one of them picked silently.
    fn get_store(&self, scope: &Scope, id: &str) -> Result<Option<GetStoreResponse>, StoreError>;

    fn summary(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        group_by: &[GroupField],
    ) -> Result<Vec<SummaryRow>, StoreError>;

    /// Tenants (other than the caller) that also reported these accounts.
    fn other_claimants(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError>;

    /// Every present store of every tenant, grouped by tenant and by its keys in
    /// `dimensions`: what the pool's release is computed from (`api::disclosure`). Not for a
    /// caller's scope (it names tenants); the release that uses it publishes none. By
    /// default every store is read and its keys worked out from its view; a backend with
    /// the dimensions as columns groups them itself.
    fn tenant_cells(&self, dimensions: &[Dimension]) -> Result<Vec<TenantCell>, StoreError> {
        /// Stores per page while reading them all.
        const PAGE: usize = 1_000;
        let mut cells: std::collections::BTreeMap<(String, Vec<String>), TenantCell> =
            Default::default();
        let mut token = String::new();
        loop {
            let (page, next) =
                self.list_stores(&Scope::AllTenants, &StoreFilter::default(), PAGE, &token)?;
            for view in &page {
                let keys: Vec<String> = dimensions.iter().map(|d| d.key(view)).collect();
                let cell = cells.entry((view.tenant.clone(), keys)).or_insert_with_key(
                    |(tenant, keys)| TenantCell {
                        tenant: tenant.clone(),
                        keys: keys.clone(),
                        ..TenantCell::default()
                    },
                );
                cell.stores += 1;
                cell.bytes += view.bytes.unwrap_or(0);
                cell.stores_without_size += u64::from(view.size_unknown());
            }
            if next.is_empty() {
                return Ok(cells.into_values().collect());
            }
            token = next;
        }
    }
}

/// A dimension a store is counted by: a column of the map (a [`GroupField`]) or a field of
/// the stored view (a [`ViewDimension`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dimension {
    Field(GroupField),
    View(ViewDimension),
}

impl Dimension {
    /// The row key of `view` in this dimension's table.
    pub fn key(self, view: &StoreView) -> String {
        match self {
            Dimension::Field(f) => f.key(view),
            Dimension::View(d) => d.key(view),
        }
    }
}

/// A tenant's present stores with one combination of keys, and their figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantCell {
    pub tenant: String,
    /// One key per dimension asked for, in that order.
    pub keys: Vec<String>,
    pub stores: u64,
    /// Known bytes (a store of unknown size adds nothing here).
    pub bytes: i64,
    pub stores_without_size: u64,
}

/// Operator tokens (hashes only), revoked agent certificates and the audit log.
pub trait TrustStore: Send + Sync {
    /// Stores a token's hash with its role, valid until `expires_at_ms` (None: never);
    /// returns the token id.
    fn create_token_until(
        &self,
        hash: &str,
        role: &str,
        tenant: Option<&str>,
        name: &str,
        expires_at_ms: Option<i64>,
    ) -> Result<i64, StoreError>;
    /// [`TrustStore::create_token_until`] without an expiry (tests, fixtures).
    fn create_token(
        &self,
        hash: &str,
        role: &str,
        tenant: Option<&str>,
        name: &str,
    ) -> Result<i64, StoreError> {
        self.create_token_until(hash, role, tenant, name, None)
    }
    /// The live token with this hash: not revoked and not expired at `now_ms`.
    fn find_token_at(&self, hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError>;
    /// [`TrustStore::find_token_at`] now.
    fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.find_token_at(hash, crate::clock::now_ms())
    }
    /// Every token, live or not, oldest first (no hashes).
    fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError>;
    /// Revokes a token at once; false when no live token has this id.
    fn revoke_token(&self, id: i64) -> Result<bool, StoreError>;
    /// Opens a web session (its id's hash) for a live token, until `expires_at_ms`.
    fn create_session(
        &self,
        id_hash: &str,
        token_id: i64,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError>;
    /// The token behind a session that is open at `now_ms`: not ended, not expired, and its
    /// token live (not revoked, not expired).
    fn find_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError>;
    /// Ends a session (logout); false when it was not open.
    fn end_session(&self, id_hash: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Revokes a certificate and every certificate renewed from it (transitively), in one
    /// transaction that no renewal interleaves with.
    fn revoke_certificate(&self, serial: &str, tenant: &str, agent: &str)
    -> Result<(), StoreError>;
    fn is_certificate_revoked(&self, serial: &str) -> Result<bool, StoreError>;
    /// Revokes every certificate recorded for an agent (enrolled or renewed); returns how
    /// many were not revoked before.
    fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<u64, StoreError>;
    /// The certificates recorded for an agent, oldest first.
    fn agent_certificates(
        &self,
        tenant: &str,
        agent: &str,
    ) -> Result<Vec<AgentCertificate>, StoreError>;
    /// Stores a one-time enrolment token's hash; returns its id.
    fn create_enrolment_token(
        &self,
        hash: &str,
        tenant: &str,
        agent: Option<&str>,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<i64, StoreError>;
    /// The enrolment token with this hash, used or not, expired or not (to say why it no
    /// longer counts).
    fn find_enrolment_token(&self, hash: &str) -> Result<Option<EnrolmentToken>, StoreError>;
    /// Uses the token with this hash and records the certificate signed with it, in one
    /// transaction: only when the token is unused, not expired at `now_ms`, of
    /// `cert.tenant`, and binds `cert.agent` or no agent. False (nothing written) otherwise:
    /// of two concurrent uses, one wins.
    fn consume_enrolment_token(
        &self,
        hash: &str,
        now_ms: i64,
        cert: &AgentCertificate,
    ) -> Result<bool, StoreError>;
    /// Records a renewed certificate (`cert.renewed_from` names the one presented), in one
    /// transaction with the check that the presented certificate is not revoked. False
    /// (nothing written) when it is: a revoked agent gets no new certificate.
    fn record_renewal(&self, cert: &AgentCertificate) -> Result<bool, StoreError>;
    fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The newest audit entries, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
}

/// What collectors sharing one database tell each other. A backend that one process writes
/// alone (SQLite) tells nothing: the collector's in-process hub already sees every change.
pub trait SharedFeed: Send + Sync {
    /// Wake-ups when any process commits change events. The value is the highest change id
    /// announced so far, starting at the id recorded last when listening began; it is a hint
    /// (read the changes after the last id seen: ids are gap-free in commit order), and a
    /// wake-up lost with a dropped connection is made good when it is made again. None: only
    /// this process writes.
    fn change_wakeups(&self) -> Result<Option<tokio::sync::watch::Receiver<i64>>, StoreError> {
        Ok(None)
    }

    /// Wake-ups when any process records a scan request, as [`SharedFeed::change_wakeups`]:
    /// the highest request id announced. None: only this process writes.
    fn scan_request_wakeups(
        &self,
    ) -> Result<Option<tokio::sync::watch::Receiver<i64>>, StoreError> {
        Ok(None)
    }

    /// Records an operator's scan request for every collector to pass on; returns its id.
    /// None: only this process serves agents, it passes the request on itself.
    fn record_scan_request(&self, _request: &SharedScanRequest) -> Result<Option<i64>, StoreError> {
        Ok(None)
    }

    /// Scan requests recorded after `after_id` and not before `since_ms`, in id order.
    fn scan_requests_after(
        &self,
        _after_id: i64,
        _since_ms: i64,
    ) -> Result<Vec<SharedScanRequest>, StoreError> {
        Ok(Vec::new())
    }

    /// Records that a request reached these agents (connected to this process).
    fn record_scan_deliveries(
        &self,
        _tenant: &str,
        _request_id: i64,
        _agents: &[String],
        _now_ms: i64,
    ) -> Result<(), StoreError> {
        Ok(())
    }

    /// The agents a request reached so far, through any collector, sorted.
    fn scan_deliveries(&self, _tenant: &str, _request_id: i64) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }
}

/// An operator's request that a tenant's agents (or one) scan now, shared by the collectors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedScanRequest {
    /// Assigned when recorded (0 before).
    pub id: i64,
    pub tenant: String,
    /// None: every agent of the tenant.
    pub agent: Option<String>,
    pub reason: String,
    pub requested_at_ms: i64,
}

impl SharedFeed for sqlite::SqliteStore {}

/// Every role together: what the collector is wired with. Implemented for any backend that
/// implements the role traits.
pub trait MapStore:
    IngestStore + QueryStore + InsightStore + TrustStore + ReportStore + SharedFeed + 'static
{
}

impl<T> MapStore for T where
    T: IngestStore + QueryStore + InsightStore + TrustStore + ReportStore + SharedFeed + 'static
{
}
