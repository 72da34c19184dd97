-- Account and region settings (EBS encryption by default, its default key) are read on their
-- own page; they are a handful of facts among millions, so only they are indexed. The query
-- repeats the `kind = 'setting'` term, which SQLite needs to use a partial index.
CREATE INDEX facts_settings ON facts (tenant, account) WHERE kind = 'setting';
