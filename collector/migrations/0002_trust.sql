-- Operator tokens: only the SHA-256 of the token is kept.
CREATE TABLE tokens (
    id            INTEGER PRIMARY KEY,
    hash          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    tenant        TEXT,
    name          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    revoked_at_ms INTEGER
);

-- Revoked agent certificates, by serial.
CREATE TABLE revoked_certificates (
    serial        TEXT PRIMARY KEY,
    tenant        TEXT NOT NULL,
    agent         TEXT NOT NULL,
    revoked_at_ms INTEGER NOT NULL
);

-- Which tenant first reported a cloud account; later claims by others are flagged.
CREATE TABLE account_claims (
    account       TEXT NOT NULL,
    tenant        TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    PRIMARY KEY (account, tenant)
);

-- Every operator query: who, what, when, how many rows.
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY,
    at_ms     INTEGER NOT NULL,
    token_id  INTEGER,
    role      TEXT NOT NULL,
    tenant    TEXT,
    method    TEXT NOT NULL,
    request   TEXT NOT NULL,
    rows      INTEGER NOT NULL,
    outcome   TEXT NOT NULL
);
