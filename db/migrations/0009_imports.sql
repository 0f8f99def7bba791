-- Imports of child-parent and parent-bill links: one row per run of a file, with its progress, so
-- that any hub process can answer how far an import is; and the rows it could not apply.
CREATE TABLE imports (
    id           bigserial PRIMARY KEY,
    actor_id     bigint NOT NULL REFERENCES users (id),
    file_name    text NOT NULL,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    kind         text NOT NULL CHECK (kind IN ('links', 'bills')),
    mode         text NOT NULL CHECK (mode IN ('all', 'rows')),
    area         text REFERENCES areas (name) ON UPDATE CASCADE,
    device_id    text NOT NULL,
    status       text NOT NULL DEFAULT 'running'
                 CHECK (status IN ('running', 'done', 'refused', 'failed')),
    rows_total   integer NOT NULL CHECK (rows_total >= 0),
    rows_done    integer NOT NULL DEFAULT 0 CHECK (rows_done >= 0),
    applied      integer NOT NULL DEFAULT 0,
    already      integer NOT NULL DEFAULT 0,
    bad          integer NOT NULL DEFAULT 0,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CHECK ((status = 'running') = (finished_at IS NULL))
);
CREATE INDEX imports_started ON imports (started_at DESC, id DESC);

CREATE TABLE import_errors (
    import_id   bigint NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
    row_number  integer NOT NULL,
    cells       jsonb NOT NULL,
    code        text NOT NULL,
    message     text NOT NULL,
    PRIMARY KEY (import_id, row_number)
);
