-- The scans log partitioned by month of server_time (issue 11), so that a year of history keeps
-- inserts, lookups and lists as they were in the first week: a batch writes into one small month,
-- a list reads the months its time bounds name, and an old month leaves with one command
-- (`tracetrack archive`, which detaches, dumps and drops it).
--
-- Months are calendar months in UTC, whatever the hubs' TIMEZONE: a partition's bounds are fixed in
-- the database once made, and TIMEZONE is a setting of each hub process that may change.
--
-- Partitions: scans_YYYY_MM for each month, made by scans_add_month (the hub calls it at start and
-- daily for the current and the next month, `hub.partitions`), and scans_default, which catches a row
-- of any month that has no partition (a clock far off, or all hubs down past the next month), so an
-- insert never fails. When a month's partition is made, the default's rows of that month move into it.
--
-- Exactly-once without a global UNIQUE (device_id, seq), which a partitioned table cannot have (a
-- unique index must include server_time). What makes a (device, seq) applied once is the devices row:
-- every scan row is written by `hub.batch.apply_batch`, in a transaction that first locks the rows of
-- its devices (`hub.store.batches.lock_devices`, SELECT ... FOR UPDATE, creating a row missing so that
-- there is one to lock), writes a scan only for seq > that row's last_seq, and sets last_seq to at
-- least that seq in the same transaction (the batch statement, whose greatest() never lowers it; no
-- statement does). A second transaction with the same (device, seq), in any hub process, waits
-- for the lock, then reads the committed last_seq >= seq (FOR UPDATE reads the latest version), and
-- answers from the stored row (a replay) or STALE_SEQ: it writes no row. (The only other writer,
-- `tracetrack seed`, numbers devices of its own, new at every run, once each.) Each partition still has
-- its own UNIQUE (device_id, seq), which refuses a duplicate within a month (written by raw SQL, or
-- a bug) and is the index replays are looked up by (one probe per partition).
--
-- The key is (id, server_time), a unique index (ids stay unique, from the same sequence; every
-- column is NOT NULL), not a PRIMARY KEY constraint: `pg_restore --clean` (`tracetrack restore
-- --clean`) drops each partition's inherited primary-key constraint before its parent's, which
-- PostgreSQL 15 refuses, whereas it leaves an attached index to the drop of its parent.

ALTER TABLE scans RENAME TO scans_before_0014;
ALTER TABLE scans_before_0014 DROP CONSTRAINT scans_pkey, DROP CONSTRAINT scans_device_id_seq_key;
DROP INDEX scans_code, scans_recent_links, scans_keyset, scans_area, scans_user, scans_device,
    scans_rejected, scans_rejected_area, scans_rejected_user, scans_rejected_device, scans_target;
ALTER SEQUENCE scans_id_seq OWNED BY NONE;

CREATE TABLE scans (
    id           bigint NOT NULL DEFAULT nextval('scans_id_seq'),
    device_id    text NOT NULL,
    seq          bigint NOT NULL CHECK (seq > 0),
    user_id      bigint,
    area         text,
    op           text NOT NULL,
    code         text NOT NULL DEFAULT '',
    target       text NOT NULL DEFAULT '',
    result       text NOT NULL,
    detail       jsonb,
    client_time  timestamptz,
    server_time  timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (server_time);
ALTER SEQUENCE scans_id_seq OWNED BY scans.id;
CREATE TABLE scans_default PARTITION OF scans DEFAULT;
CREATE UNIQUE INDEX scans_default_device_seq ON scans_default (device_id, seq);

-- The partition of the month starting at `month` (the first of a month, UTC).
CREATE FUNCTION scans_month_table(month date) RETURNS text LANGUAGE sql IMMUTABLE
    RETURN 'scans_' || to_char(month, 'YYYY_MM');

-- Attach `tbl`, a table shaped as scans holding rows of `month` only (a new one, or one restored from
-- an archive), as that month's partition, with the default partition's rows of the month moved into
-- it first. The CHECK spares ATTACH a scan of `tbl`; it fails here, naming the constraint, if a row
-- of another month is in it.
CREATE FUNCTION scans_attach_month(month date, tbl regclass) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    first timestamptz := date_trunc('month', month::timestamp) AT TIME ZONE 'UTC';
    after timestamptz := (date_trunc('month', month::timestamp) + interval '1 month') AT TIME ZONE 'UTC';
BEGIN
    IF month <> date_trunc('month', month)::date THEN
        RAISE EXCEPTION 'a month starts on its first day, not %', month USING ERRCODE = 'invalid_parameter_value';
    END IF;
    EXECUTE format('ALTER TABLE %s ADD CONSTRAINT scans_month_bound CHECK (server_time >= %L AND server_time < %L)',
                   tbl, first, after);
    EXECUTE format('WITH moved AS (DELETE FROM scans_default WHERE server_time >= %L AND server_time < %L RETURNING *)
                    INSERT INTO %s SELECT * FROM moved', first, after, tbl);
    EXECUTE format('ALTER TABLE scans ATTACH PARTITION %s FOR VALUES FROM (%L) TO (%L)', tbl, first, after);
    EXECUTE format('ALTER TABLE %s DROP CONSTRAINT scans_month_bound', tbl);
END $$;

-- Make the partition of `month` unless a table of its name exists (attached, or detached by an
-- archive under way); true when it made one. Hub processes doing it at once take turns.
CREATE FUNCTION scans_add_month(month date) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
    name text := scans_month_table(month);
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('scans_add_month'));
    IF to_regclass(name) IS NOT NULL THEN
        RETURN false;
    END IF;
    EXECUTE format('CREATE TABLE %I (LIKE scans INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
    EXECUTE format('CREATE UNIQUE INDEX %I ON %I (device_id, seq)', name || '_device_seq', name);
    PERFORM scans_attach_month(month, name::regclass);
    RETURN true;
END $$;

-- A partition for every month from the oldest scan's to the next month (or the newest scan's).
SELECT scans_add_month(m::date)
  FROM generate_series(
           date_trunc('month', least((SELECT min(server_time) FROM scans_before_0014), now()) AT TIME ZONE 'UTC'),
           date_trunc('month', greatest((SELECT max(server_time) FROM scans_before_0014),
                                        now() + interval '1 month') AT TIME ZONE 'UTC'),
           interval '1 month') AS m;

INSERT INTO scans (id, device_id, seq, user_id, area, op, code, target, result, detail, client_time, server_time)
SELECT id, device_id, seq, user_id, area, op, code, target, result, detail, client_time, server_time
  FROM scans_before_0014;
DROP TABLE scans_before_0014;

-- The key, and the indexes of 0001, 0002 and 0006, now partitioned: one on every partition, present
-- and future.
CREATE UNIQUE INDEX scans_id ON scans (id, server_time);
CREATE INDEX scans_code ON scans (code);
CREATE INDEX scans_recent_links ON scans (server_time DESC) WHERE op = 'child' AND result = 'OK';
CREATE INDEX scans_keyset ON scans (server_time DESC, id DESC);
CREATE INDEX scans_area ON scans (area, server_time DESC, id DESC);
CREATE INDEX scans_user ON scans (user_id, server_time DESC, id DESC);
CREATE INDEX scans_device ON scans (device_id, server_time DESC, id DESC);
CREATE INDEX scans_rejected ON scans (server_time DESC, id DESC) WHERE result <> 'OK';
CREATE INDEX scans_rejected_area ON scans (area, server_time DESC, id DESC) WHERE result <> 'OK';
CREATE INDEX scans_rejected_user ON scans (user_id, server_time DESC, id DESC) WHERE result <> 'OK';
CREATE INDEX scans_rejected_device ON scans (device_id, server_time DESC, id DESC) WHERE result <> 'OK';
CREATE INDEX scans_target ON scans (target) WHERE target <> '';
ANALYZE scans;
