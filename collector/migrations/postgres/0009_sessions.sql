-- Web UI sessions: their own short-lived ids (only the hash kept), bound to the token that
-- opened them; a session ends at logout, at its expiry, or when its token is revoked.
CREATE TABLE sessions (
    id_hash       TEXT PRIMARY KEY,
    token_id      BIGINT NOT NULL REFERENCES tokens (id),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    ended_at_ms   BIGINT
);
