-- Every place data lives is a store of some kind: a column to filter and group by.
ALTER TABLE stores ADD COLUMN kind TEXT COLLATE "C" NOT NULL DEFAULT '';
DELETE FROM meta WHERE key = 'interpretation';
