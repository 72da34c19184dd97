//! Operator tokens, revoked agent certificates and the audit log on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;
use crate::store::{AuditEntry, StoreError, TokenRecord, TrustStore};

impl TrustStore for SqliteStore {
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
}
