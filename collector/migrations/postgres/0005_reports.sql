-- Issued board reports: the figures each one showed (JSON), so the next report of the same
-- tenant can show the trend since it.
CREATE TABLE reports (
    tenant       TEXT COLLATE "C" NOT NULL,
    id           BIGINT GENERATED ALWAYS AS IDENTITY,
    issued_at_ms BIGINT NOT NULL,
    figures      TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);
