//! [`ReportStore`] for PostgreSQL: facts with provenance, issued reports.

use prost::Message;

use landmeter_proto::v1::Fact;

use super::PostgresStore;
use crate::store::reports::{ReportRecord, ReportStore, StoredFact, check_scope};
use crate::store::{Scope, StoreError};

impl ReportStore for PostgresStore {
    fn tenant_facts(&self, scope: &Scope, tenant: &str) -> Result<Vec<StoredFact>, StoreError> {
        check_scope(scope, tenant)?;
        self.query(
            "SELECT account, subject, kind, scan_id, agent, body FROM facts
             WHERE tenant = $1 ORDER BY account, subject, kind",
            &[&tenant],
        )?
        .iter()
        .map(|r| {
            let body: &[u8] = r.try_get(5)?;
            Ok(StoredFact {
                account: r.try_get(0)?,
                subject: r.try_get(1)?,
                kind: r.try_get(2)?,
                scan_id: r.try_get(3)?,
                agent: r.try_get(4)?,
                fact: Fact::decode(body)?,
            })
        })
        .collect()
    }

    fn record_report(
        &self,
        scope: &Scope,
        tenant: &str,
        issued_at_ms: i64,
        figures: &str,
    ) -> Result<i64, StoreError> {
        check_scope(scope, tenant)?;
        let rows = self.query(
            "INSERT INTO reports (tenant, issued_at_ms, figures) VALUES ($1, $2, $3) RETURNING id",
            &[&tenant, &issued_at_ms, &figures],
        )?;
        Ok(rows[0].try_get(0)?)
    }

    fn last_report(&self, scope: &Scope, tenant: &str) -> Result<Option<ReportRecord>, StoreError> {
        check_scope(scope, tenant)?;
        self.query(
            "SELECT id, issued_at_ms, figures FROM reports WHERE tenant = $1
             ORDER BY id DESC LIMIT 1",
            &[&tenant],
        )?
        .first()
        .map(|r| {
            Ok(ReportRecord {
                id: r.try_get(0)?,
                issued_at_ms: r.try_get(1)?,
                figures: r.try_get(2)?,
            })
        })
        .transpose()
    }
}
