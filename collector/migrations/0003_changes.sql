-- Every change to a store's interpretation: added, changed (with before/after), gone.
CREATE TABLE changes (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant   TEXT NOT NULL,
    store_id TEXT NOT NULL,
    at_ms    INTEGER NOT NULL,
    scan_id  TEXT NOT NULL,
    event    BLOB NOT NULL
);
CREATE INDEX changes_by_time ON changes (at_ms);
CREATE INDEX changes_by_tenant ON changes (tenant, id);
