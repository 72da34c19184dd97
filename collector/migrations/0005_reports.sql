-- Issued board reports: the figures each one showed (JSON), so the next report of the same
-- tenant can show the trend since it.
CREATE TABLE reports (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    issued_at_ms INTEGER NOT NULL,
    figures      TEXT NOT NULL
);
CREATE INDEX reports_by_tenant ON reports (tenant, id);
