-- The records read API (issue 9): every list is read newest first by (time, id) from the row after
-- a cursor, or by code from a prefix, so each list page and each lookup is one bounded index range
-- whatever the page number. Equality filters lead an index, the keyset order follows. Filters with
-- no index of their own (on_bill and the children's loose/in_parent, a bill's text, two scan
-- filters together, anything beside a prefix) run over the index of the others and cost in
-- proportion to the rows they skip; docs/api.md says which.

-- Whether a parent is on a bill, kept by PostgreSQL from bill_parents as child_count is kept from
-- links (statement-level, under the locks the bill_parents triggers of 0001 take). The bag lists
-- filter on it: a join with bill_parents there would be estimated from all 10 million bags, not the
-- parents, and planned as a sort of every parent in an area; a column has statistics and indexes.
ALTER TABLE bags ADD COLUMN on_bill boolean NOT NULL DEFAULT false;
UPDATE bags SET on_bill = true WHERE id IN (SELECT parent_id FROM bill_parents);

CREATE FUNCTION bill_parents_mark_on() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bags SET on_bill = true WHERE id IN (SELECT parent_id FROM new_parents);
    RETURN NULL;
END $$;

CREATE FUNCTION bill_parents_mark_off() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bags SET on_bill = false WHERE id IN (SELECT parent_id FROM old_parents);
    RETURN NULL;
END $$;

CREATE TRIGGER bill_parents_mark_on AFTER INSERT ON bill_parents
    REFERENCING NEW TABLE AS new_parents FOR EACH STATEMENT EXECUTE FUNCTION bill_parents_mark_on();
CREATE TRIGGER bill_parents_mark_off AFTER DELETE ON bill_parents
    REFERENCING OLD TABLE AS old_parents FOR EACH STATEMENT EXECUTE FUNCTION bill_parents_mark_off();
CREATE TRIGGER bags_on_bill_by_parents AFTER UPDATE ON bags FOR EACH ROW
    WHEN (NEW.on_bill <> OLD.on_bill AND pg_trigger_depth() = 0)
    EXECUTE FUNCTION refuse('on_bill follows bill_parents: insert or delete them instead');

-- Bags: newest first overall, per area, per area and kind (bags_list, 0001), parents overall.
CREATE INDEX bags_created ON bags (created_at DESC, id DESC);
CREATE INDEX bags_area_created ON bags (area, created_at DESC, id DESC);
CREATE INDEX bags_parents_created ON bags (created_at DESC, id DESC) WHERE kind = 'P';
-- Parents being filled and empty ones are few at any time: small partial indexes.
CREATE INDEX bags_open_parents ON bags (created_at DESC, id DESC) WHERE kind = 'P' AND completed_at IS NULL;
CREATE INDEX bags_empty_parents ON bags (created_at DESC, id DESC) WHERE kind = 'P' AND child_count = 0;
CREATE INDEX bags_area_empty_parents ON bags (area, created_at DESC, id DESC) WHERE kind = 'P' AND child_count = 0;
-- Complete parents waiting for a bill: a small share of the parents too.
CREATE INDEX bags_unbilled_parents ON bags (created_at DESC, id DESC)
    WHERE kind = 'P' AND completed_at IS NOT NULL AND NOT on_bill;
CREATE INDEX bags_area_unbilled_parents ON bags (area, created_at DESC, id DESC)
    WHERE kind = 'P' AND completed_at IS NOT NULL AND NOT on_bill;
-- Prefix search in code point order, whatever the database's collation: one range per prefix.
CREATE INDEX bags_code_prefix ON bags (code COLLATE "C");

-- Bills: newest first overall, per area, per status, per area and status (bills_list, 0001).
CREATE INDEX bills_created ON bills (created_at DESC, id DESC);
CREATE INDEX bills_area_created ON bills (area, created_at DESC, id DESC);
CREATE INDEX bills_status_created ON bills (status, created_at DESC, id DESC);

-- Scans: the keyset order replaces the plain time index; then per area, user and device, and the
-- rejected scans (a small share) in each of those orders.
DROP INDEX scans_time;
CREATE INDEX scans_keyset ON scans (server_time DESC, id DESC);
CREATE INDEX scans_area ON scans (area, server_time DESC, id DESC);
CREATE INDEX scans_user ON scans (user_id, server_time DESC, id DESC);
CREATE INDEX scans_device ON scans (device_id, server_time DESC, id DESC);
CREATE INDEX scans_rejected ON scans (server_time DESC, id DESC) WHERE result <> 'OK';
CREATE INDEX scans_rejected_area ON scans (area, server_time DESC, id DESC) WHERE result <> 'OK';
CREATE INDEX scans_rejected_user ON scans (user_id, server_time DESC, id DESC) WHERE result <> 'OK';
CREATE INDEX scans_rejected_device ON scans (device_id, server_time DESC, id DESC) WHERE result <> 'OK';
-- A bag's history: the scans naming it as the parent (scans_code, 0001, finds its own).
CREATE INDEX scans_target ON scans (target) WHERE target <> '';

-- Audit entries: newest first, per action, actor and target.
DROP INDEX audit_log_at;
DROP INDEX audit_log_target;
CREATE INDEX audit_keyset ON audit_log (at DESC, id DESC);
CREATE INDEX audit_action ON audit_log (action, at DESC, id DESC);
CREATE INDEX audit_actor ON audit_log (actor_id, at DESC, id DESC);
CREATE INDEX audit_target ON audit_log (target, at DESC, id DESC);
