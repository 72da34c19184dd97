//! Operator tokens, revoked agent certificates and the audit log on PostgreSQL.

use tokio_postgres::Row;

use super::PostgresStore;
use crate::store::{
    AgentCertificate, AuditEntry, EnrolmentToken, StoreError, TokenRecord, TrustStore,
};

/// Every certificate renewed from `$1`, transitively (not `$1` itself).
const RENEWED_FROM: &str = "WITH RECURSIVE lineage(serial) AS (
        SELECT serial FROM agent_certificates WHERE renewed_from = $1
        UNION SELECT c.serial FROM agent_certificates c JOIN lineage l ON c.renewed_from = l.serial)";

const CERT_COLUMNS: &str = "serial, tenant, agent, issued_at_ms, not_after_ms, renewed_from";

/// Taken by every transaction that revokes or renews a certificate: a renewal and a
/// revocation of the same lineage never interleave (rare writes; one lock is enough).
const CERTIFICATES_LOCK: &str = "SELECT pg_advisory_xact_lock(7400020)";

fn cert_from_row(r: &Row) -> Result<AgentCertificate, StoreError> {
    Ok(AgentCertificate {
        serial: r.try_get("serial")?,
        tenant: r.try_get("tenant")?,
        agent: r.try_get("agent")?,
        issued_at_ms: r.try_get("issued_at_ms")?,
        not_after_ms: r.try_get("not_after_ms")?,
        renewed_from: r.try_get("renewed_from")?,
    })
}

const INSERT_CERTIFICATE: &str = "INSERT INTO agent_certificates
    (serial, tenant, agent, issued_at_ms, not_after_ms, renewed_from)
    VALUES ($1, $2, $3, $4, $5, $6)";

impl PostgresStore {
    /// Runs `f` in one transaction holding [`CERTIFICATES_LOCK`]; commits when it returns
    /// `(true, _)`, rolls back otherwise.
    fn certificates_tx<T>(
        &self,
        f: impl Fn(&deadpool_postgres::Transaction<'_>) -> Result<(bool, T), StoreError>,
    ) -> Result<T, StoreError> {
        let mut client = self.client()?;
        self.retrying(|| {
            let tx = self.block(client.transaction())?;
            self.block(tx.batch_execute(CERTIFICATES_LOCK))?;
            let (commit, out) = f(&tx)?;
            if commit {
                self.block(tx.commit())?;
            } else {
                self.block(tx.rollback())?;
            }
            Ok(out)
        })
    }
}

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
        let now_ms = crate::clock::now_ms();
        self.certificates_tx(|tx| {
            self.block(tx.execute(
                "INSERT INTO revoked_certificates (serial, tenant, agent, revoked_at_ms)
                 VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                &[&serial, &tenant, &agent, &now_ms],
            ))?;
            let renewed = format!(
                "{RENEWED_FROM}
                 INSERT INTO revoked_certificates (serial, tenant, agent, revoked_at_ms)
                 SELECT c.serial, c.tenant, c.agent, $2::BIGINT
                 FROM agent_certificates c JOIN lineage l ON l.serial = c.serial
                 ON CONFLICT DO NOTHING"
            );
            self.block(tx.execute(renewed.as_str(), &[&serial, &now_ms]))?;
            Ok((true, ()))
        })
    }

    fn revoke_agent(&self, tenant: &str, agent: &str) -> Result<u64, StoreError> {
        let now_ms = crate::clock::now_ms();
        self.certificates_tx(|tx| {
            let n = self.block(tx.execute(
                "INSERT INTO revoked_certificates (serial, tenant, agent, revoked_at_ms)
                 SELECT serial, tenant, agent, $3::BIGINT FROM agent_certificates
                 WHERE tenant = $1 AND agent = $2
                 ON CONFLICT DO NOTHING",
                &[&tenant, &agent, &now_ms],
            ))?;
            Ok((true, n))
        })
    }

    fn agent_certificates(
        &self,
        tenant: &str,
        agent: &str,
    ) -> Result<Vec<AgentCertificate>, StoreError> {
        self.query(
            &format!(
                "SELECT {CERT_COLUMNS} FROM agent_certificates WHERE tenant = $1 AND agent = $2
                 ORDER BY issued_at_ms, serial"
            ),
            &[&tenant, &agent],
        )?
        .iter()
        .map(cert_from_row)
        .collect()
    }

    fn create_enrolment_token(
        &self,
        hash: &str,
        tenant: &str,
        agent: Option<&str>,
        created_at_ms: i64,
        expires_at_ms: i64,
    ) -> Result<i64, StoreError> {
        let rows = self.query(
            "INSERT INTO enrolment_tokens (hash, tenant, agent, created_at_ms, expires_at_ms)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
            &[&hash, &tenant, &agent, &created_at_ms, &expires_at_ms],
        )?;
        Ok(rows[0].try_get(0)?)
    }

    fn find_enrolment_token(&self, hash: &str) -> Result<Option<EnrolmentToken>, StoreError> {
        self.query(
            "SELECT id, tenant, agent, created_at_ms, expires_at_ms, used_at_ms
             FROM enrolment_tokens WHERE hash = $1",
            &[&hash],
        )?
        .first()
        .map(|r| {
            Ok(EnrolmentToken {
                id: r.try_get(0)?,
                tenant: r.try_get(1)?,
                agent: r.try_get(2)?,
                created_at_ms: r.try_get(3)?,
                expires_at_ms: r.try_get(4)?,
                used_at_ms: r.try_get(5)?,
            })
        })
        .transpose()
    }

    fn consume_enrolment_token(
        &self,
        hash: &str,
        now_ms: i64,
        cert: &AgentCertificate,
    ) -> Result<bool, StoreError> {
        self.certificates_tx(|tx| {
            // The row lock of the UPDATE makes a concurrent use wait, then find it used.
            let used = self.block(tx.execute(
                "UPDATE enrolment_tokens SET used_at_ms = $2, used_serial = $3
                 WHERE hash = $1 AND used_at_ms IS NULL AND expires_at_ms > $2
                   AND tenant = $4 AND (agent IS NULL OR agent = $5)",
                &[&hash, &now_ms, &cert.serial, &cert.tenant, &cert.agent],
            ))?;
            if used != 1 {
                return Ok((false, false));
            }
            self.block(tx.execute(
                INSERT_CERTIFICATE,
                &[
                    &cert.serial,
                    &cert.tenant,
                    &cert.agent,
                    &cert.issued_at_ms,
                    &cert.not_after_ms,
                    &cert.renewed_from,
                ],
            ))?;
            Ok((true, true))
        })
    }

    fn record_renewal(&self, cert: &AgentCertificate) -> Result<bool, StoreError> {
        self.certificates_tx(|tx| {
            if let Some(from) = &cert.renewed_from {
                let revoked = self.block(tx.query_opt(
                    "SELECT 1 FROM revoked_certificates WHERE serial = $1",
                    &[from],
                ))?;
                if revoked.is_some() {
                    return Ok((false, false));
                }
            }
            self.block(tx.execute(
                INSERT_CERTIFICATE,
                &[
                    &cert.serial,
                    &cert.tenant,
                    &cert.agent,
                    &cert.issued_at_ms,
                    &cert.not_after_ms,
                    &cert.renewed_from,
                ],
            ))?;
            Ok((true, true))
        })
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
