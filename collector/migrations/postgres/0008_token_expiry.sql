-- Operator tokens expire (issue 14): NULL means never. Tokens made before this version
-- expire 90 days after the upgrade.
ALTER TABLE tokens ADD COLUMN expires_at_ms BIGINT;
UPDATE tokens SET expires_at_ms = (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT + 90::BIGINT * 86400000
WHERE revoked_at_ms IS NULL;
