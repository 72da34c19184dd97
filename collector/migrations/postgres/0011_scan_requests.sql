-- Operators' scan requests, so that one reaches an agent connected to any collector on this
-- database. The request is a row, announced by NOTIFY landmeter_scan_requests at commit;
-- every collector reads the rows after the last id it saw, passes each to the agents
-- connected to it and records whom it reached. Ids come from `scan_request_head` (one row,
-- locked until the commit), so they increase in commit order and a reader misses none.
CREATE TABLE scan_requests (
    tenant          TEXT COLLATE "C" NOT NULL,
    id              BIGINT NOT NULL,
    -- NULL: every agent of the tenant.
    agent           TEXT,
    reason          TEXT NOT NULL,
    requested_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX scan_requests_by_id ON scan_requests (id);
CREATE TABLE scan_request_head (
    one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    last_id BIGINT NOT NULL
);
INSERT INTO scan_request_head (last_id) VALUES (0);
CREATE TABLE scan_request_deliveries (
    tenant          TEXT COLLATE "C" NOT NULL,
    request_id      BIGINT NOT NULL,
    agent           TEXT NOT NULL,
    delivered_at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, request_id, agent)
);
