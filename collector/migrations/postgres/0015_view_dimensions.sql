-- The dashboard's view dimensions as columns of `stores` and dimensions of the summary
-- counts (migration 0014), so that its tables by provider parent and by the SOV-2 and
-- SOV-3 indicators come from the counts as the others do, instead of decoding every
-- stored view (seconds at 10M stores).
--
-- `sov2` and `sov3` are NULL when the view has no indicator (unknown is never a level); in
-- the counts, whose key columns cannot be NULL, that is -1.
--
-- The values live in the encoded view, which SQL cannot read: the backend fills the
-- columns of the stores already there in the same transaction, right after this script
-- (store/postgres/view_dims.rs), and the update triggers move their counts.
--
-- Applying it again is harmless (IF NOT EXISTS, the key and functions replaced): a test
-- sets the schema version back to check the filling-in on a map with stores.
ALTER TABLE stores
    ADD COLUMN IF NOT EXISTS provider_parent TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS sov2 SMALLINT,
    ADD COLUMN IF NOT EXISTS sov3 SMALLINT;

ALTER TABLE store_counts
    ADD COLUMN IF NOT EXISTS provider_parent TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS sov2 SMALLINT NOT NULL DEFAULT -1,
    ADD COLUMN IF NOT EXISTS sov3 SMALLINT NOT NULL DEFAULT -1,
    DROP CONSTRAINT store_counts_pkey,
    ADD PRIMARY KEY (tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
                     custody_rank, classification, process, kind, replicated_outside_eu,
                     unknown_dims, gone, provider_parent, sov2, sov3);
ALTER TABLE store_count_deltas
    ADD COLUMN IF NOT EXISTS provider_parent TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN IF NOT EXISTS sov2 SMALLINT NOT NULL DEFAULT -1,
    ADD COLUMN IF NOT EXISTS sov3 SMALLINT NOT NULL DEFAULT -1;

-- The triggers' functions, with the three dimensions last (the columns' order above).
CREATE OR REPLACE FUNCTION store_count_rows_sql(source TEXT, sign INTEGER) RETURNS TEXT
LANGUAGE sql IMMUTABLE AS $$
    SELECT format(
        'SELECT tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
                custody_rank, classification, process, kind, replicated_outside_eu,
                unknown_dims, gone_at_ms IS NOT NULL AS gone, %1$s * COUNT(*) AS n,
                %1$s * COALESCE(SUM(bytes), 0) AS bytes,
                %1$s * COUNT(*) FILTER (WHERE bytes IS NULL AND unknown_dims LIKE ''%%,size,%%'')
                    AS without_size,
                provider_parent, COALESCE(sov2, -1) AS sov2, COALESCE(sov3, -1) AS sov3
         FROM %2$I
         GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 21', sign, source)
$$;

CREATE OR REPLACE FUNCTION store_counts_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'INSERT INTO store_count_deltas
             SELECT tenant, provider, region, country, eu, jurisdiction, cloud_act, custody,
                    custody_rank, classification, process, kind, replicated_outside_eu,
                    unknown_dims, gone, SUM(n), SUM(bytes), SUM(without_size),
                    provider_parent, sov2, sov3
             FROM (' || store_count_rows_sql('new_stores', 1) || ' UNION ALL '
                     || store_count_rows_sql('old_stores', -1) || ') AS d
             GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 19, 20, 21
             HAVING SUM(n) <> 0 OR SUM(bytes) <> 0 OR SUM(without_size) <> 0';
    RETURN NULL;
END $$;
