-- The commit clock: every batch takes the next number under this row's lock, so the numbers follow
-- commit order across all hub processes. A dashboard snapshot read at clock S contains exactly the
-- batches 1..S; deltas follow as S+1, S+2, ...
CREATE TABLE commit_clock (
    id   boolean PRIMARY KEY DEFAULT true CHECK (id),
    seq  bigint NOT NULL DEFAULT 0
);
INSERT INTO commit_clock (id, seq) VALUES (true, 0);

-- Read-only tokens for wall screens nobody logs into; only the hash is kept.
CREATE TABLE wall_tokens (
    id          bigserial PRIMARY KEY,
    token_hash  bytea NOT NULL UNIQUE,
    label       text NOT NULL CHECK (length(label) BETWEEN 1 AND 100),
    area        text REFERENCES areas (name) ON UPDATE CASCADE,
    created_by  bigint REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

CREATE INDEX scans_recent_links ON scans (server_time DESC) WHERE op = 'child' AND result = 'OK';
