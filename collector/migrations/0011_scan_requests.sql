-- Numbered as PostgreSQL's 0011 (scan requests shared by several collectors). One process
-- writes a SQLite file, so it passes a scan request to its agents directly and never fills
-- these tables; they keep both schemas in step (and `db copy` has nothing to move).
CREATE TABLE scan_requests (
    tenant          TEXT NOT NULL,
    id              INTEGER NOT NULL,
    agent           TEXT,
    reason          TEXT NOT NULL,
    requested_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE TABLE scan_request_deliveries (
    tenant          TEXT NOT NULL,
    request_id      INTEGER NOT NULL,
    agent           TEXT NOT NULL,
    delivered_at_ms INTEGER NOT NULL,
    PRIMARY KEY (tenant, request_id, agent)
);
