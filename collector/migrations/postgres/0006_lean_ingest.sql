-- Ingest writes every fact once per scan: only gap facts are indexed by scan (the coverage
-- page's one question), as in SQLite. Queries repeat the `kind LIKE 'gap:%'` term.
DROP INDEX facts_by_scan;
CREATE INDEX facts_gaps_by_scan ON facts (tenant, account, scan_id) WHERE kind LIKE 'gap:%';
