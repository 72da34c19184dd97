-- PostgreSQL schema, numbered and named as the SQLite migrations one level up (the same
-- steps, in PostgreSQL's types). Every tenant's table is keyed by tenant first: the column a
-- distributed engine (Citus) would shard on. Text that is sorted or compared is COLLATE "C"
-- (byte order), so pages and summaries come out in the order SQLite gives them.

-- Scans: one row per agent scan; ended_at_ms set when ScanEnd was committed. `seq` keeps
-- insertion order (agents' clocks do not decide what is newest).
CREATE TABLE scans (
    tenant        TEXT COLLATE "C" NOT NULL,
    scan_id       TEXT COLLATE "C" NOT NULL,
    seq           BIGINT GENERATED ALWAYS AS IDENTITY,
    agent         TEXT NOT NULL,
    provider      TEXT NOT NULL DEFAULT '',
    accounts      TEXT NOT NULL DEFAULT '',
    started_at_ms BIGINT,
    ended_at_ms   BIGINT,
    batches       BIGINT,
    coverage      TEXT,
    PRIMARY KEY (tenant, scan_id)
);
CREATE INDEX scans_by_seq ON scans (seq);

-- Committed batches: the dedupe marker, written in the same transaction as the facts.
CREATE TABLE batches (
    tenant  TEXT COLLATE "C" NOT NULL,
    scan_id TEXT COLLATE "C" NOT NULL,
    seq     BIGINT NOT NULL,
    facts   BIGINT NOT NULL,
    PRIMARY KEY (tenant, scan_id, seq)
);

-- Latest answer per (subject, kind of answer): the evidence the map is interpreted from.
CREATE TABLE facts (
    tenant         TEXT COLLATE "C" NOT NULL,
    account        TEXT COLLATE "C" NOT NULL,
    subject        TEXT COLLATE "C" NOT NULL,
    kind           TEXT COLLATE "C" NOT NULL,
    scan_id        TEXT COLLATE "C" NOT NULL,
    agent          TEXT NOT NULL,
    api_call       TEXT NOT NULL,
    observed_at_ms BIGINT NOT NULL,
    body           BYTEA NOT NULL,
    PRIMARY KEY (tenant, account, subject, kind)
);
CREATE INDEX facts_by_scan ON facts (tenant, account, scan_id);

-- The interpreted map: one row per store, columns for filtering and grouping, the full view as protobuf.
CREATE TABLE stores (
    tenant                TEXT COLLATE "C" NOT NULL,
    id                    TEXT COLLATE "C" NOT NULL,
    provider              TEXT COLLATE "C" NOT NULL,
    account               TEXT COLLATE "C" NOT NULL,
    name                  TEXT COLLATE "C" NOT NULL,
    region                TEXT COLLATE "C" NOT NULL,
    country               TEXT COLLATE "C" NOT NULL,
    eu                    BOOLEAN NOT NULL,
    custody               TEXT COLLATE "C" NOT NULL,
    custody_rank          INTEGER NOT NULL,
    classification        TEXT COLLATE "C" NOT NULL,
    process               TEXT COLLATE "C" NOT NULL,
    jurisdiction          TEXT COLLATE "C" NOT NULL,
    cloud_act             TEXT COLLATE "C" NOT NULL,
    replicated_outside_eu BOOLEAN NOT NULL,
    bytes                 BIGINT,
    objects               BIGINT,
    view                  BYTEA NOT NULL,
    first_seen_ms         BIGINT NOT NULL,
    last_seen_ms          BIGINT NOT NULL,
    gone_at_ms            BIGINT,
    last_scan_id          TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX stores_by_account ON stores (tenant, account, last_scan_id);
CREATE INDEX stores_by_name ON stores (tenant, name);
CREATE INDEX stores_by_country ON stores (country, custody_rank);
CREATE INDEX stores_by_custody ON stores (custody_rank);

-- PostgreSQL only: a counter per account, bumped by every transaction that changes the
-- account's facts, stores or claims before it writes them. A scan end planned on a snapshot
-- applies its plan only if `UPDATE ... WHERE generation = <the snapshot's>` still matches
-- (SQLite keeps these counters in the collector's memory; several collectors cannot).
CREATE TABLE account_generations (
    tenant     TEXT COLLATE "C" NOT NULL,
    account    TEXT COLLATE "C" NOT NULL,
    generation BIGINT NOT NULL,
    PRIMARY KEY (tenant, account)
);
