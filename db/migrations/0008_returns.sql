-- Return tickets: parents that come back to a dispatch point are scanned onto a ticket, which takes
-- each off its bill. A finalised ticket keeps them off; a cancelled one puts every one back onto the
-- bill it came off. What a warehouse expects of a bill that was dispatched (completed):
--   * it stays completed when parents come back, even the last one (the trip happened; its manifest
--     now says nothing of it is out), so a completed bill may hold no parents, but only when a return
--     emptied it: finishing an empty bill stays refused, as does any other path that empties it;
--   * a cancelled return puts its parents back onto that completed bill, and nothing else may add a
--     parent to a bill that is not open: the put-back is admitted once per return record.

CREATE TABLE return_tickets (
    id          bigserial PRIMARY KEY,
    code        text NOT NULL CHECK (code = upper(lower(code)) AND length(code) BETWEEN 1 AND 40),
    area        text NOT NULL REFERENCES areas (name) ON UPDATE CASCADE,
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'finalised', 'cancelled')),
    created_by  bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    closed_by   bigint,
    closed_at   timestamptz,
    UNIQUE (code),
    CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX return_tickets_list ON return_tickets (area, created_at DESC, id DESC);
CREATE INDEX return_tickets_recent ON return_tickets (created_at DESC, id DESC);

-- One row per parent returned on a ticket, naming the bill it came off; never deleted. `restored_at`
-- is set when a cancel put the parent back onto that bill.
CREATE TABLE return_parents (
    ticket_id    bigint NOT NULL REFERENCES return_tickets (id),
    parent_id    bigint NOT NULL,
    parent_kind  char(1) NOT NULL DEFAULT 'P' CHECK (parent_kind = 'P'),
    bill_id      bigint NOT NULL REFERENCES bills (id),
    returned_by  bigint,
    returned_at  timestamptz NOT NULL DEFAULT now(),
    restored_at  timestamptz,
    PRIMARY KEY (ticket_id, parent_id),
    FOREIGN KEY (parent_id, parent_kind) REFERENCES bags (id, kind)
);
CREATE INDEX return_parents_parent ON return_parents (parent_id);
CREATE INDEX return_parents_bill ON return_parents (bill_id);

CREATE FUNCTION refuse_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'check_violation';
END $$;

-- A parent is returned only onto an open ticket of its own area, off the bill it is on right now.
CREATE FUNCTION return_parents_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM return_tickets WHERE id IN (SELECT ticket_id FROM new_returns) ORDER BY id FOR SHARE;
    IF EXISTS (SELECT 1 FROM new_returns n
                 JOIN return_tickets t ON t.id = n.ticket_id
                 JOIN bags b ON b.id = n.parent_id
                WHERE t.status <> 'open' OR b.area <> t.area
                   OR NOT EXISTS (SELECT 1 FROM bill_parents bp
                                   WHERE bp.parent_id = n.parent_id AND bp.bill_id = n.bill_id)) THEN
        RAISE EXCEPTION 'a parent is returned onto an open ticket of its area, off the bill it is on'
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER return_parents_insert AFTER INSERT ON return_parents
    REFERENCING NEW TABLE AS new_returns FOR EACH STATEMENT EXECUTE FUNCTION return_parents_insert();
CREATE TRIGGER return_parents_kept BEFORE DELETE ON return_parents FOR EACH ROW
    EXECUTE FUNCTION refuse_check('a return record is history: it is never deleted');
CREATE TRIGGER return_parents_fixed AFTER UPDATE ON return_parents FOR EACH ROW
    WHEN (OLD.restored_at IS NOT NULL OR NEW.restored_at IS NULL
          OR (NEW.ticket_id, NEW.parent_id, NEW.bill_id, NEW.returned_by, NEW.returned_at)
             IS DISTINCT FROM (OLD.ticket_id, OLD.parent_id, OLD.bill_id, OLD.returned_by, OLD.returned_at))
    EXECUTE FUNCTION refuse_check('a return record changes only once, when a cancel restores it');

-- A ticket closes once (finalised or cancelled) and then never changes.
CREATE TRIGGER return_tickets_closed AFTER UPDATE ON return_tickets FOR EACH ROW
    WHEN (NEW.code <> OLD.code OR (OLD.status <> 'open'
          AND (NEW.status, NEW.closed_at, NEW.closed_by) IS DISTINCT FROM (OLD.status, OLD.closed_at, OLD.closed_by)))
    EXECUTE FUNCTION refuse_check('a closed return ticket never changes');

-- A cancelled ticket has put every one of its parents back by the time it commits.
CREATE FUNCTION return_tickets_cancelled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM return_parents WHERE ticket_id = NEW.id AND restored_at IS NULL) THEN
        RAISE EXCEPTION 'a cancelled return puts every parent back onto its bill' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER return_tickets_cancelled AFTER UPDATE ON return_tickets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (NEW.status = 'cancelled' AND OLD.status = 'open')
    EXECUTE FUNCTION return_tickets_cancelled();

-- Parents go only on open bills, except a cancelled return's parent back onto the bill its record
-- names, once (the insert marks the record restored). The rest is as in 0001.
CREATE OR REPLACE FUNCTION bill_parents_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM bags WHERE id IN (SELECT parent_id FROM new_parents) ORDER BY id FOR SHARE;
    PERFORM 1 FROM bills WHERE id IN (SELECT bill_id FROM new_parents) ORDER BY id FOR NO KEY UPDATE;
    IF EXISTS (SELECT 1 FROM new_parents n JOIN bags b ON b.id = n.parent_id
                WHERE b.child_count < b.capacity) THEN
        RAISE EXCEPTION 'only complete parents go on a bill' USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM new_parents n JOIN bills l ON l.id = n.bill_id
                WHERE l.status <> 'open'
                  AND NOT EXISTS (SELECT 1 FROM return_parents rp JOIN return_tickets t ON t.id = rp.ticket_id
                                   WHERE rp.parent_id = n.parent_id AND rp.bill_id = n.bill_id
                                     AND t.status = 'cancelled' AND rp.restored_at IS NULL)) THEN
        RAISE EXCEPTION 'parents go only on open bills' USING ERRCODE = 'check_violation';
    END IF;
    UPDATE return_parents rp SET restored_at = now()
      FROM new_parents n, return_tickets t
     WHERE rp.parent_id = n.parent_id AND rp.bill_id = n.bill_id AND t.id = rp.ticket_id
       AND t.status = 'cancelled' AND rp.restored_at IS NULL;
    UPDATE bills l SET parent_count = l.parent_count + n.added
      FROM (SELECT bill_id, count(*)::integer AS added FROM new_parents GROUP BY bill_id) n
     WHERE l.id = n.bill_id;
    RETURN NULL;
END $$;

-- 0001 held "a completed bill has parents" as a CHECK; now a return may empty a completed bill.
-- What stays refused: finishing (or creating) a bill with no parents, and emptying a completed bill
-- other than by returning its parents onto an open ticket.
ALTER TABLE bills DROP CONSTRAINT bills_check2;
CREATE TRIGGER bills_finish_with_parents AFTER UPDATE ON bills FOR EACH ROW
    WHEN (NEW.status <> 'open' AND NEW.parent_count = 0 AND OLD.status = 'open')
    EXECUTE FUNCTION refuse_check('a bill needs a parent before it is completed');
CREATE TRIGGER bills_start_with_parents AFTER INSERT ON bills FOR EACH ROW
    WHEN (NEW.status <> 'open' AND NEW.parent_count = 0)
    EXECUTE FUNCTION refuse_check('a bill needs a parent before it is completed');

CREATE FUNCTION bill_parents_emptied() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_parents o JOIN bills l ON l.id = o.bill_id
                WHERE l.status <> 'open'
                  AND NOT EXISTS (SELECT 1 FROM bill_parents bp WHERE bp.bill_id = l.id)
                  AND NOT EXISTS (SELECT 1 FROM return_parents rp JOIN return_tickets t ON t.id = rp.ticket_id
                                   WHERE rp.parent_id = o.parent_id AND rp.bill_id = o.bill_id
                                     AND t.status = 'open' AND rp.restored_at IS NULL)) THEN
        RAISE EXCEPTION 'a completed bill is emptied only by returns' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bill_parents_emptied AFTER DELETE ON bill_parents
    REFERENCING OLD TABLE AS old_parents FOR EACH STATEMENT EXECUTE FUNCTION bill_parents_emptied();
