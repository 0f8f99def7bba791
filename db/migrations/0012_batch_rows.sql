-- The rows one batch writes, as types: the writer sends each table's new rows as one array of
-- records instead of one array per column. asyncpg inspects every element of an array parameter
-- (about 0.5 µs each, and a child scan made some 34 of them); the fields of a record it does not.
CREATE TYPE batch_bag AS (code text, kind char(1), area text, format text, capacity integer,
                          expected_kg numeric(8, 2), created_by bigint);
-- A link's child or parent id is null when the batch creates that bag: it is then found by code.
CREATE TYPE batch_link AS (child_code text, child_id bigint, parent_code text, parent_id bigint,
                           linked_by bigint, linked_at timestamptz);
CREATE TYPE batch_scan AS (device_id text, seq bigint, user_id bigint, area text, op text, code text,
                           target text, result text, detail jsonb, client_time timestamptz);
CREATE TYPE batch_device AS (device_id text, last_seq bigint, user_id bigint);
CREATE TYPE batch_stat AS (minute timestamptz, area text, device_id text, accepted integer, rejected integer,
                           children_linked integer, parents_completed integer, bills_completed integer);
