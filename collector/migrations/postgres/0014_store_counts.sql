-- Summaries at 10M+ stores: counts of stores per combination of the dimensions a summary
-- filters and groups by (all but the account), kept exact in every writing transaction.
--
-- Statement triggers on `stores` append one delta row per changed combination to
-- `store_count_deltas` (an INSERT only: concurrent writers never wait for each other's
-- rows). The backend folds the deltas into `store_counts` now and then, in one transaction
-- (store/postgres/counts.rs). A summary reads both tables in one snapshot, so it is exact at
-- any moment. A summary by account, or filtered to accounts, reads `stores` as before.
CREATE TABLE store_counts (
    tenant                TEXT COLLATE "C" NOT NULL,
    provider              TEXT COLLATE "C" NOT NULL,
    region                TEXT COLLATE "C" NOT NULL,
    country               TEXT COLLATE "C" NOT NULL,
    eu                    BOOLEAN NOT NULL,
    jurisdiction          TEXT COLLATE "C" NOT NULL,
    cloud_act             TEXT COLLATE "C" NOT NULL,
    custody               TEXT COLLATE "C" NOT NULL,
    custody_rank          INTEGER NOT NULL,
    classification        TEXT COLLATE "C" NOT NULL,
    process               TEXT COLLATE "C" NOT NULL,
    kind                  TEXT COLLATE "C" NOT NULL,
    replicated_outside_eu BOOLEAN NOT NULL,
    unknown_dims          TEXT COLLATE "C" NOT NULL,
    gone                  BOOLEAN NOT NULL,
    -- Stores, the sum of their known sizes, and those whose size could not be read.
    n                     BIGINT NOT NULL,
    bytes                 BIGINT NOT NULL,
    without_size          BIGINT NOT NULL,
    PRIMARY KEY (tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
                 custody_rank, classification, process, kind, replicated_outside_eu,
                 unknown_dims, gone)
);
CREATE TABLE store_count_deltas (LIKE store_counts);
CREATE INDEX store_count_deltas_by_tenant ON store_count_deltas (tenant);

-- One row per combination of a statement's rows, each counted with `sign`.
CREATE FUNCTION store_count_rows_sql(source TEXT, sign INTEGER) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(
        'SELECT tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
                custody_rank, classification, process, kind, replicated_outside_eu,
                unknown_dims, gone_at_ms IS NOT NULL AS gone, %1$s * COUNT(*) AS n,
                %1$s * COALESCE(SUM(bytes), 0) AS bytes,
                %1$s * COUNT(*) FILTER (WHERE bytes IS NULL AND unknown_dims LIKE ''%%,size,%%'')
                    AS without_size
         FROM %2$I
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15', sign, source)
$$;

CREATE FUNCTION store_counts_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'INSERT INTO store_count_deltas ' || store_count_rows_sql('new_stores', 1);
    RETURN NULL;
END $$;

CREATE FUNCTION store_counts_on_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'INSERT INTO store_count_deltas ' || store_count_rows_sql('old_stores', -1);
    RETURN NULL;
END $$;

-- An update that changes no dimension (a store seen again) nets out: no delta row.
CREATE FUNCTION store_counts_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'INSERT INTO store_count_deltas
             SELECT tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
                    custody_rank, classification, process, kind, replicated_outside_eu,
                    unknown_dims, gone, SUM(n), SUM(bytes), SUM(without_size)
             FROM (' || store_count_rows_sql('new_stores', 1) || ' UNION ALL '
                     || store_count_rows_sql('old_stores', -1) || ') AS d
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
             HAVING SUM(n) <> 0 OR SUM(bytes) <> 0 OR SUM(without_size) <> 0';
    RETURN NULL;
END $$;

CREATE TRIGGER store_counts_insert AFTER INSERT ON stores
    REFERENCING NEW TABLE AS new_stores FOR EACH STATEMENT EXECUTE FUNCTION store_counts_on_insert();
CREATE TRIGGER store_counts_update AFTER UPDATE ON stores
    REFERENCING OLD TABLE AS old_stores NEW TABLE AS new_stores
    FOR EACH STATEMENT EXECUTE FUNCTION store_counts_on_update();
CREATE TRIGGER store_counts_delete AFTER DELETE ON stores
    REFERENCING OLD TABLE AS old_stores FOR EACH STATEMENT EXECUTE FUNCTION store_counts_on_delete();

-- The stores already there.
INSERT INTO store_counts
    SELECT tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
           custody_rank, classification, process, kind, replicated_outside_eu, unknown_dims,
           gone_at_ms IS NOT NULL, COUNT(*), COALESCE(SUM(bytes), 0),
           COUNT(*) FILTER (WHERE bytes IS NULL AND unknown_dims LIKE '%,size,%')
    FROM stores
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15;
