//! Operator tokens, revoked agent certificates and the audit log on SQLite.

use rusqlite::{OptionalExtension, params};

use super::SqliteStore;

/// Every column of a token but its hash.
const TOKEN_COLUMNS: &str = "id, role, tenant, name, created_at_ms, expires_at_ms, revoked_at_ms";

fn token_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get("id")?,
        role: r.get("role")?,
        tenant: r.get("tenant")?,
        name: r.get("name")?,
        created_at_ms: r.get("created_at_ms")?,
        expires_at_ms: r.get("expires_at_ms")?,
        revoked_at_ms: r.get("revoked_at_ms")?,
    })
}
use crate::store::{
    AgentCertificate, AuditEntry, EnrolmentToken, StoreError, TokenRecord, TrustStore,
};

/// Every certificate renewed from `?1`, transitively (not `?1` itself).
const RENEWED_FROM: &str = "WITH RECURSIVE lineage(serial) AS (
        SELECT serial FROM agent_certificates WHERE renewed_from = ?1
        UNION SELECT c.serial FROM agent_certificates c JOIN lineage l ON c.renewed_from = l.serial)";

const CERT_COLUMNS: &str = "serial, tenant, agent, issued_at_ms, not_after_ms, renewed_from";

fn cert_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AgentCertificate> {
    Ok(AgentCertificate {
        serial: r.get("serial")?,
        tenant: r.get("tenant")?,
        agent: r.get("agent")?,
        issued_at_ms: r.get("issued_at_ms")?,
        not_after_ms: r.get("not_after_ms")?,
        renewed_from: r.get("renewed_from")?,
    })
}

fn insert_certificate(tx: &rusqlite::Connection, c: &AgentCertificate) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO agent_certificates ({CERT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
        params![
            c.serial,
            c.tenant,
            c.agent,
            c.issued_at_ms,
            c.not_after_ms,
            c.renewed_from
        ],
    )?;
    Ok(())
}

impl TrustStore for SqliteStore {
    fn create_token_until(
        &self,
        hash: &str,
        role: &str,
        tenant: Option<&str>,
        name: &str,
        expires_at_ms: Option<i64>,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO tokens (hash, role, tenant, name, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, CAST(strftime('%s','now') AS INTEGER) * 1000, ?5)",
                params![hash, role, tenant, name, expires_at_ms],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn find_token_at(&self, hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM tokens WHERE hash = ?1 AND revoked_at_ms IS NULL
                   AND (expires_at_ms IS NULL OR expires_at_ms > ?2)"
            ))?
            .query_row(params![hash, now_ms], token_from_row)
            .optional()?)
        })
    }

    fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {TOKEN_COLUMNS} FROM tokens ORDER BY id"))?;
            let rows = stmt.query_map([], token_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn revoke_token(&self, id: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE tokens SET revoked_at_ms = CAST(strftime('%s','now') AS INTEGER) * 1000
                 WHERE id = ?1 AND revoked_at_ms IS NULL",
                [id],
            )?;
            Ok(n == 1)
        })
    }

    fn create_session(
        &self,
        id_hash: &str,
        token_id: i64,
        now_ms: i64,
        expires_at_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO sessions (id_hash, token_id, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id_hash, token_id, now_ms, expires_at_ms],
            )?;
            Ok(())
        })
    }

    fn find_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<TokenRecord>, StoreError> {
        let columns: Vec<String> = TOKEN_COLUMNS
            .split(", ")
            .map(|c| format!("t.{c}"))
            .collect();
        self.read(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {} FROM sessions s JOIN tokens t ON t.id = s.token_id
                 WHERE s.id_hash = ?1 AND s.ended_at_ms IS NULL AND s.expires_at_ms > ?2
                   AND t.revoked_at_ms IS NULL
                   AND (t.expires_at_ms IS NULL OR t.expires_at_ms > ?2)",
                columns.join(", ")
            ))?
            .query_row(params![id_hash, now_ms], token_from_row)
            .optional()?)
        })
    }

    fn end_session(&self, id_hash: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE sessions SET ended_at_ms = ?2 WHERE id_hash = ?1 AND ended_at_ms IS NULL",
                params![id_hash, now_ms],
            )?;
            Ok(n == 1)
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
            tx.execute(
                &format!(
                    "{RENEWED_FROM}
                     INSERT OR IGNORE INTO revoked_certificates (serial, tenant, agent, revoked_at_ms)
                     SELECT c.serial, c.tenant, c.agent, CAST(strftime('%s','now') AS INTEGER) * 1000
                     FROM agent_certificates c JOIN lineage l ON l.serial = c.serial"
                ),
                params![serial],
            )?;
            Ok(())
        })
    }

    fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<u64, StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "INSERT OR IGNORE INTO revoked_certificates (serial, tenant, agent, revoked_at_ms)
                 SELECT serial, tenant, agent, CAST(strftime('%s','now') AS INTEGER) * 1000
                 FROM agent_certificates WHERE tenant = ?1 AND agent = ?2",
                params![tenant, agent],
            )?;
            Ok(n as u64)
        })
    }

    fn agent_certificates(
        &self,
        tenant: &str,
        agent: &str,
    ) -> Result<Vec<AgentCertificate>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {CERT_COLUMNS} FROM agent_certificates WHERE tenant = ?1 AND agent = ?2
                 ORDER BY issued_at_ms, serial"
            ))?;
            let rows = stmt.query_map(params![tenant, agent], cert_from_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
    }

    fn create_enrolment_token(
        &self,
        hash: &str,
        tenant: &str,
        agent: Option<&str>,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO enrolment_tokens (hash, tenant, agent, created_at_ms, expires_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![hash, tenant, agent, created_at_ms, expires_at_ms],
            )?;
            Ok(tx.last_insert_rowid())
        })
    }

    fn find_enrolment_token(&self, hash: &str) -> Result<Option<EnrolmentToken>, StoreError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT id, tenant, agent, created_at_ms, expires_at_ms, used_at_ms
                 FROM enrolment_tokens WHERE hash = ?1",
            )?
            .query_row([hash], |r| {
                Ok(EnrolmentToken {
                    id: r.get(0)?,
                    tenant: r.get(1)?,
                    agent: r.get(2)?,
                    created_at_ms: r.get(3)?,
                    expires_at_ms: r.get(4)?,
                    used_at_ms: r.get(5)?,
                })
            })
            .optional()?)
        })
    }

    fn consume_enrolment_token(
        &self,
        hash: &str,
        now_ms: i64,
        cert: &AgentCertificate,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let used = tx.execute(
                "UPDATE enrolment_tokens SET used_at_ms = ?2, used_serial = ?3
                 WHERE hash = ?1 AND used_at_ms IS NULL AND expires_at_ms > ?2
                   AND tenant = ?4 AND (agent IS NULL OR agent = ?5)",
                params![hash, now_ms, cert.serial, cert.tenant, cert.agent],
            )?;
            if used != 1 {
                return Ok(false);
            }
            insert_certificate(tx, cert)?;
            Ok(true)
        })
    }

    fn record_renewal(&self, cert: &AgentCertificate) -> Result<bool, StoreError> {
        self.write(|tx| {
            let revoked = match cert.renewed_from.as_deref() {
                Some(from) => tx
                    .prepare_cached("SELECT 1 FROM revoked_certificates WHERE serial = ?1")?
                    .exists([from])?,
                None => false,
            };
            if revoked {
                return Ok(false);
            }
            insert_certificate(tx, cert)?;
            Ok(true)
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
