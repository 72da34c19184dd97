//! [`ReportStore`] for SQLite: facts with provenance, issued reports.
//! A child module of `sqlite`, so it shares its connections.

use prost::Message;
use rusqlite::{OptionalExtension, params};

use landmeter_proto::v1::Fact;

use super::SqliteStore;
use crate::store::reports::{ReportRecord, ReportStore, StoredFact, check_scope};
use crate::store::{Scope, StoreError};

impl ReportStore for SqliteStore {
    fn tenant_facts(&self, scope: &Scope, tenant: &str) -> Result<Vec<StoredFact>, StoreError> {
        check_scope(scope, tenant)?;
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT account, subject, kind, scan_id, agent, body FROM facts
                 WHERE tenant = ?1 ORDER BY account, subject, kind",
            )?;
            let rows = stmt.query_map(params![tenant], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (account, subject, kind, scan_id, agent, body) = row?;
                out.push(StoredFact {
                    account,
                    subject,
                    kind,
                    scan_id,
                    agent,
                    fact: Fact::decode(body.as_slice())?,
                });
            }
            Ok(out)
        })
    }

    fn record_report(
        &self,
        scope: &Scope,
        tenant: &str,
        issued_at_ms: i64,
        figures: &str,
    ) -> Result<i64, StoreError> {
        check_scope(scope, tenant)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO reports (tenant, issued_at_ms, figures) VALUES (?1, ?2, ?3)",
                params![tenant, issued_at_ms, figures],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn last_report(&self, scope: &Scope, tenant: &str) -> Result<Option<ReportRecord>, StoreError> {
        check_scope(scope, tenant)?;
        self.read(|c| {
            Ok(c.query_row(
                "SELECT id, issued_at_ms, figures FROM reports WHERE tenant = ?1
                 ORDER BY id DESC LIMIT 1",
                params![tenant],
                |r| {
                    Ok(ReportRecord {
                        id: r.get(0)?,
                        issued_at_ms: r.get(1)?,
                        figures: r.get(2)?,
                    })
                },
            )
            .optional()?)
        })
    }
}
