-- Every dimension a view leaves unknown (",replication,classification,"), so that a yes/no
-- filter can leave unknowns out and "unknown" can be asked for (unknown is never "no").
ALTER TABLE stores ADD COLUMN unknown_dims TEXT COLLATE "C" NOT NULL DEFAULT '';
DELETE FROM meta WHERE key = 'interpretation';
