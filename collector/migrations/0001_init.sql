-- Scans: one row per agent scan; ended_at_ms set when ScanEnd was committed.
CREATE TABLE scans (
    tenant        TEXT NOT NULL,
    scan_id       TEXT NOT NULL,
    agent         TEXT NOT NULL,
    provider      TEXT NOT NULL DEFAULT '',
    accounts      TEXT NOT NULL DEFAULT '',
    started_at_ms INTEGER,
    ended_at_ms   INTEGER,
    batches       INTEGER,
    coverage      TEXT,
    PRIMARY KEY (tenant, scan_id)
);

-- Committed batches: the dedupe marker, written in the same transaction as the facts.
CREATE TABLE batches (
    tenant  TEXT NOT NULL,
    scan_id TEXT NOT NULL,
    seq     INTEGER NOT NULL,
    facts   INTEGER NOT NULL,
    PRIMARY KEY (tenant, scan_id, seq)
) WITHOUT ROWID;

-- Latest answer per (subject, kind of answer): the evidence the map is interpreted from.
CREATE TABLE facts (
    tenant         TEXT NOT NULL,
    account        TEXT NOT NULL,
    subject        TEXT NOT NULL,
    kind           TEXT NOT NULL,
    scan_id        TEXT NOT NULL,
    agent          TEXT NOT NULL,
    api_call       TEXT NOT NULL,
    observed_at_ms INTEGER NOT NULL,
    body           BLOB NOT NULL,
    PRIMARY KEY (tenant, account, subject, kind)
) WITHOUT ROWID;
CREATE INDEX facts_by_scan ON facts (tenant, account, scan_id);

-- The interpreted map: one row per store, columns for filtering and grouping, the full view as protobuf.
CREATE TABLE stores (
    tenant                TEXT NOT NULL,
    id                    TEXT NOT NULL,
    provider              TEXT NOT NULL,
    account               TEXT NOT NULL,
    name                  TEXT NOT NULL,
    region                TEXT NOT NULL,
    country               TEXT NOT NULL,
    eu                    INTEGER NOT NULL,
    custody               TEXT NOT NULL,
    custody_rank          INTEGER NOT NULL,
    classification        TEXT NOT NULL,
    process               TEXT NOT NULL,
    jurisdiction          TEXT NOT NULL,
    cloud_act             TEXT NOT NULL,
    replicated_outside_eu INTEGER NOT NULL,
    bytes                 INTEGER,
    objects               INTEGER,
    view                  BLOB NOT NULL,
    first_seen_ms         INTEGER NOT NULL,
    last_seen_ms          INTEGER NOT NULL,
    gone_at_ms            INTEGER,
    last_scan_id          TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX stores_by_account ON stores (tenant, account, last_scan_id);
CREATE INDEX stores_by_name ON stores (tenant, name);
CREATE INDEX stores_by_country ON stores (country, custody_rank);
CREATE INDEX stores_by_custody ON stores (custody_rank);
