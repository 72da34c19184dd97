-- Summaries by country and custody (the operator's first question) read this index only:
-- it holds every column the query needs, in group order, so the 1 KB rows (with their
-- encoded views) are never read and no sort is needed. It serves country filters as the
-- index it replaces did.
DROP INDEX stores_by_country;
CREATE INDEX stores_by_country_custody ON stores (country, custody, gone_at_ms, bytes);
