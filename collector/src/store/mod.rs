//! Persistence of facts, scans and the interpreted map. The only module that knows SQL.
//!
//! # Layout
//! - this module: the [`MapStore`] trait every backend implements, its errors and the
//!   query types (scope, filters, grouping) shared by all backends.
//! - [`sqlite`]: the embedded default.
//!
//! Invariants every backend keeps:
//! - a batch is committed atomically with its (tenant, scan, seq) marker, so a resend is
//!   recognised and never stored twice;
//! - a scan ends only when every batch from 1 to its count has been committed;
//! - after a complete scan of an account, the account's stores it did not see are marked
//!   gone (kept, with `gone_at`), never deleted.

pub mod reports;
pub mod sqlite;
mod sqlite_insight;

use landmeter_proto::v1::{
    ChangeEvent, FactsBatch, GetStoreResponse, ScanBegin, ScanEnd, StoreFilter, StoreView,
    SummaryRow,
};

use crate::map::Interpreter;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Database(#[from] rusqlite::Error),
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
    #[error("cannot start the checkpoint thread: {0}")]
    Thread(#[from] std::io::Error),
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

/// A stored operator token (its hash only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: i64,
    pub role: String,
    pub tenant: Option<String>,
    pub name: String,
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
}

impl GroupField {
    pub const ALL: [GroupField; 11] = [
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
    /// More gaps were recorded than listed (`sqlite_insight::MAX_GAPS_PER_SCAN`).
    pub gaps_truncated: bool,
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

    /// Summary rows keyed by dimensions of the stored views, one list per dimension, with
    /// the same scope and filter rules as [`MapStore::summary`] (the pool sees only rows over
    /// at least k tenants).
    fn summary_by_view(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        dimensions: &[ViewDimension],
    ) -> Result<Vec<Vec<SummaryRow>>, StoreError>;
}

/// The store behind the collector. Methods block; async callers use `spawn_blocking`.
pub trait MapStore: InsightStore + reports::ReportStore + Send + Sync + 'static {
    /// Records a scan's start. Beginning the same scan again (after a reconnect) is allowed.
    fn begin_scan(&self, tenant: &str, agent: &str, begin: &ScanBegin) -> Result<(), StoreError>;

    /// Highest sequence number committed for a scan, 0 when none.
    fn last_seq(&self, tenant: &str, scan_id: &str) -> Result<u64, StoreError>;

    /// Commits a batch of facts atomically, or recognises it as already committed.
    fn commit_batch(
        &self,
        tenant: &str,
        agent: &str,
        batch: &FactsBatch,
    ) -> Result<BatchOutcome, StoreError>;

    /// Ends a scan: drops facts its observations supersede, re-interprets the scanned
    /// accounts and marks what a complete scan did not see as gone. One transaction.
    fn finish_scan(
        &self,
        tenant: &str,
        end: &ScanEnd,
        interpreter: &Interpreter,
        now_ms: i64,
    ) -> Result<ScanOutcome, StoreError>;

    /// Re-interprets every account from its stored facts (after a reference table or a tag
    /// convention changed). Keeps first/last seen and gone marks; records what changed.
    fn reinterpret_all(&self, interpreter: &Interpreter) -> Result<usize, StoreError>;

    /// Recorded changes at or after `since_ms` with an id above `after_id`, oldest first.
    fn list_changes(
        &self,
        scope: &Scope,
        since_ms: i64,
        after_id: i64,
        limit: usize,
        filter: &StoreFilter,
    ) -> Result<Vec<ChangeEvent>, StoreError>;

    fn list_stores(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        page_size: usize,
        page_token: &str,
    ) -> Result<(Vec<StoreView>, String), StoreError>;

    fn get_store(&self, scope: &Scope, id: &str) -> Result<Option<GetStoreResponse>, StoreError>;

    fn summary(
        &self,
        scope: &Scope,
        filter: &StoreFilter,
        group_by: &[GroupField],
    ) -> Result<Vec<SummaryRow>, StoreError>;

    /// Stores a token's hash with its role; returns the token id.
    fn create_token(
        &self,
        hash: &str,
        role: &str,
        tenant: Option<&str>,
        name: &str,
    ) -> Result<i64, StoreError>;
    /// The live (not revoked) token with this hash.
    fn find_token(&self, hash: &str) -> Result<Option<TokenRecord>, StoreError>;
    fn revoke_certificate(&self, serial: &str, tenant: &str, agent: &str)
    -> Result<(), StoreError>;
    fn is_certificate_revoked(&self, serial: &str) -> Result<bool, StoreError>;
    fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// The newest audit entries, newest first.
    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;
    /// Tenants (other than the caller) that also reported these accounts.
    fn other_claimants(&self, tenant: &str, account: &str) -> Result<Vec<String>, StoreError>;

    /// A fingerprint of the interpretation the map was last built with.
    fn interpretation_fingerprint(&self) -> Result<Option<String>, StoreError>;
    fn set_interpretation_fingerprint(&self, fingerprint: &str) -> Result<(), StoreError>;
}
