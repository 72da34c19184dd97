//! Reads and writes behind board reports and evidence bundles: a tenant's stored facts with
//! their provenance, and the history of issued reports. (Scans: [`super::InsightStore`].)

use landmeter_proto::v1::Fact;

use super::{Scope, StoreError};

/// A stored fact with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredFact {
    pub account: String,
    pub subject: String,
    pub kind: String,
    pub scan_id: String,
    pub agent: String,
    pub fact: Fact,
}

/// A report issued earlier: its id, time and figures (JSON, as the report module wrote it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRecord {
    pub id: i64,
    pub issued_at_ms: i64,
    pub figures: String,
}

/// Every method checks `scope` against `tenant` again (a tenant scope reads only its own
/// tenant; the pool role reads none of this).
pub trait ReportStore: Send + Sync {
    /// Every stored fact of the tenant, by account, subject and kind.
    fn tenant_facts(&self, scope: &Scope, tenant: &str) -> Result<Vec<StoredFact>, StoreError>;
    /// Keeps an issued report's figures; returns its id.
    fn record_report(
        &self,
        scope: &Scope,
        tenant: &str,
        issued_at_ms: i64,
        figures: &str,
    ) -> Result<i64, StoreError>;
    /// The newest report issued for the tenant.
    fn last_report(&self, scope: &Scope, tenant: &str) -> Result<Option<ReportRecord>, StoreError>;
}

/// Refuses a scope that may not read `tenant`'s details.
pub fn check_scope(scope: &Scope, tenant: &str) -> Result<(), StoreError> {
    match scope {
        Scope::AllTenants => Ok(()),
        Scope::Tenant(t) if t == tenant => Ok(()),
        Scope::Tenant(_) => Err(StoreError::Forbidden(format!(
            "this token may not read tenant {tenant:?}"
        ))),
        Scope::Pool { .. } => Err(StoreError::Forbidden(
            "the pool role reads aggregates only".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_scope_reads_only_its_tenant() {
        assert!(check_scope(&Scope::Tenant("a".into()), "a").is_ok());
        assert!(check_scope(&Scope::Tenant("a".into()), "b").is_err());
        assert!(check_scope(&Scope::Pool { min_tenants: 3 }, "a").is_err());
        assert!(check_scope(&Scope::AllTenants, "b").is_ok());
    }
}
