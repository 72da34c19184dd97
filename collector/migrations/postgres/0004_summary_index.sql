-- Summaries by country and custody read this index only (an index-only scan), in group order.
DROP INDEX stores_by_country;
CREATE INDEX stores_by_country_custody ON stores (country, custody, gone_at_ms, bytes);
