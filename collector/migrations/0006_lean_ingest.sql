-- Ingest writes every fact once per scan; an index over all of them by scan cost a third of
-- the batch commit time (bench/README.md). Its one reader, the coverage page, asks only for
-- a scan's gap facts, so only those are indexed now. The query names the index (INDEXED BY)
-- and repeats its `kind LIKE 'gap:%'` term, which SQLite needs to use a partial index.
DROP INDEX facts_by_scan;
CREATE INDEX facts_gaps_by_scan ON facts (tenant, account, scan_id) WHERE kind LIKE 'gap:%';
