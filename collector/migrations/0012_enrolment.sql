-- Agent enrolment without moving private keys (issue 20). One-time enrolment tokens: only
-- the SHA-256 of a token is kept; `used_at_ms` is set once, in the transaction that records
-- the certificate signed with it.
CREATE TABLE enrolment_tokens (
    id            INTEGER PRIMARY KEY,
    hash          TEXT NOT NULL UNIQUE,
    tenant        TEXT NOT NULL,
    -- The agent name the token binds; NULL: the enrolling agent names itself.
    agent         TEXT,
    created_at_ms INTEGER NOT NULL,
    expires_at_ms INTEGER NOT NULL,
    used_at_ms    INTEGER,
    used_serial   TEXT
);

-- Agent certificates the collector signed (enrolment and renewal) with the certificate each
-- renewed: revoking a certificate revokes every one renewed from it.
CREATE TABLE agent_certificates (
    serial        TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    agent         TEXT NOT NULL,
    issued_at_ms  INTEGER NOT NULL,
    not_after_ms  INTEGER NOT NULL,
    renewed_from  TEXT
);
CREATE INDEX agent_certificates_by_renewed_from ON agent_certificates (renewed_from);
CREATE INDEX agent_certificates_by_agent ON agent_certificates (tenant, agent);
