-- Operator tokens expire (issue 14): NULL would mean never, which no token created from now
-- on gets by default. Tokens made before this version expire 90 days after the upgrade.
ALTER TABLE tokens ADD COLUMN expires_at_ms INTEGER;
UPDATE tokens SET expires_at_ms = CAST(strftime('%s','now') AS INTEGER) * 1000 + 90 * 86400000
WHERE revoked_at_ms IS NULL;
