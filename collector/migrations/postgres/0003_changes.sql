-- Every change to a store's interpretation: added, changed (with before/after), gone.
-- Ids come from `change_head` (one row), taken by the transaction that records the changes
-- just before it commits and held (row lock) until then: ids are gap-free and increase in
-- commit order, so a reader that resumes after the last id it saw misses nothing.
CREATE TABLE changes (
    tenant   TEXT COLLATE "C" NOT NULL,
    id       BIGINT NOT NULL,
    store_id TEXT NOT NULL,
    at_ms    BIGINT NOT NULL,
    scan_id  TEXT NOT NULL,
    event    BYTEA NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX changes_by_id ON changes (id);
CREATE INDEX changes_by_time ON changes (at_ms);
CREATE TABLE change_head (
    one     BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    last_id BIGINT NOT NULL
);
INSERT INTO change_head (last_id) VALUES (0);
