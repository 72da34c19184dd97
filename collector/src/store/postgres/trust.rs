//! Operator tokens, revoked agent certificates and the audit log on PostgreSQL.

use tokio_postgres::Row;

use super::PostgresStore;
use crate::store::{AuditEntry, StoreError, TokenRecord, TrustStore};

/// Every column of a token but its hash.
const TOKEN_COLUMNS: &str = "id, role, tenant, name, created_at_ms, expires_at_ms, revoked_at_ms";

fn token_from_row(r: &Row) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.try_get("id")?,
        role: r.try_get("role")?,
        tenant: r.try_get("tenant")?,
        name: r.try_get("name")?,
        created_at_ms: r.try_get("created_at_ms")?,
        expires_at_ms: r.try_get("expires_at_ms")?,
        revoked_at_ms: r.try_get("revoked_at_ms")?,
    })
}

impl TrustStore for PostgresStore {
    fn create_token_until(
        &self,
        hash: &str,
        role: &str,
        tenant: Option<&str>,
        name: &str,
        expires_at_ms: Option<i64>,
    ) -> Result<i64, StoreError> {
        let rows = self.query(
            "INSERT INTO tokens (hash, role, tenant, name, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            &[
                &hash,
                &role,
                &tenant,
                &name,
                &crate::clock::now_ms(),
                &expires_at_ms,
            ],
        )?;
        Ok(rows[0].try_get(0)?)
    }

    fn find_token_at(&self, hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError> {
        self.query(
            &format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = $1 AND revoked_at_ms IS NULL
                   AND (expires_at_ms IS NULL OR expires_at_ms > $2)"
            ),
            &[&hash, &now_ms],
        )?
        .first()
        .map(token_from_row)
        .transpose()
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.query(
            &format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"),
            &[],
        )?
        .iter()
        .map(token_from_row)
        .collect()
    }

    fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE tokens SET revoked_at_ms = $2 WHERE id = $1 AND revoked_at_ms IS NULL",
            &[&id, &crate::clock::now_ms()],
        )?;
        Ok(n == 1)
    }

    fn create_session(
        &self,
        id_hash: &str,
        token_id: i64,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO sessions (id_hash, token_id, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4)",
            &[&id_hash, &token_id, &now_ms, &expires_at_ms],
        )?;
        Ok(())
    }

    fn find_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError> {
        let columns: Vec<String> = TOKEN_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect();
        self.query(
            &format!(
                "SELECT {} FROM sessions s JOIN tokens t ON t.id = s.token_id
                 WHERE s.id_hash = $1 AND s.ended_at_ms IS NULL AND s.expires_at_ms > $2
                   AND t.revoked_at_ms IS NULL
                   AND (t.expires_at_ms IS NULL OR t.expires_at_ms > $2)",
                columns.join(", ")
            ),
            &[&id_hash, &now_ms],
        )?
        .first()
        .map(token_from_row)
        .transpose()
    }

    fn end_session(&self, id_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        let n = self.execute(
            "UPDATE sessions SET ended_at_ms = $2 WHERE id_hash = $1 AND ended_at_ms IS NULL",
            &[&id_hash, &now_ms],
        )?;
        Ok(n == 1)
    }

    fn revoke_certificate(
        &self,
        serial: &str,
        tenant: &str,
        agent: &str,
    ) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO revoked_certificates (serial, tenant, agent, revoked_at_ms)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
            &[&serial, &tenant, &agent, &crate::clock::now_ms()],
        )?;
        Ok(())
    }

    fn is_certificate_revoked(&self, serial: &str) -> Result<bool, StoreError> {
        Ok(!self
            .query(
                "SELECT 1 FROM revoked_certificates WHERE serial = $1",
                &[&serial],
            )?
            .is_empty())
    }

    fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO audit_log (at_ms, token_id, role, tenant, method, request, rows, outcome)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &crate::clock::now_ms(),
                &e.token_id,
                &e.role,
                &e.tenant,
                &e.method,
                &e.request,
                &(e.rows as i64),
                &e.outcome,
            ],
        )?;
        Ok(())
    }

    fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        self.query(
            "SELECT token_id, role, tenant, method, request, rows, outcome FROM audit_log
             ORDER BY id DESC LIMIT $1",
            &[&(limit as i64)],
        )?
        .iter()
        .map(|r| {
            Ok(AuditEntry {
                token_id: r.try_get(0)?,
                role: r.try_get(1)?,
                tenant: r.try_get(2)?,
                method: r.try_get(3)?,
                request: r.try_get(4)?,
                rows: r.try_get::<_, i64>(5)? as u64,
                outcome: r.try_get(6)?,
            })
        })
        .collect()
    }
}
