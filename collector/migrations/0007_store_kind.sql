-- Every place data lives is a store of some kind (bucket, storage account, container, and
-- databases, volumes, snapshots, ... next): a column to filter and group by.
ALTER TABLE stores ADD COLUMN kind TEXT NOT NULL DEFAULT '';
-- The stored views predate kinds: the next start re-interprets the map from its facts.
DELETE FROM meta WHERE key = 'interpretation';
