-- TraceTrack Hub schema. Every invariant of the design brief that PostgreSQL can hold is held here,
-- so that no race between scanners or hub processes can break it.

CREATE TABLE areas (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]{1,39}$'),
    label       text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

INSERT INTO areas (name, label) VALUES
    ('lucknow', 'Lucknow'), ('indore', 'Indore'), ('jaipur', 'Jaipur'), ('hisar', 'Hisar'),
    ('sri_ganganagar', 'Sri Ganganagar'), ('sangaria', 'Sangaria'), ('bathinda', 'Bathinda'),
    ('raipur', 'Raipur'), ('ranchi', 'Ranchi'), ('akola', 'Akola');

CREATE TABLE users (
    id              bigserial PRIMARY KEY,
    username        text NOT NULL CHECK (username = lower(username) AND username ~ '^[a-z0-9_.-]{2,40}$'),
    password_hash   text NOT NULL,
    role            text NOT NULL CHECK (role IN ('admin', 'biller', 'dispatcher')),
    area            text REFERENCES areas (name) ON UPDATE CASCADE,
    active          boolean NOT NULL DEFAULT true,
    failed_logins   integer NOT NULL DEFAULT 0,
    locked_until    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (role = 'admin' OR area IS NOT NULL),
    UNIQUE (username)
);

-- Server-side sessions: the cookie carries a random token, the table keeps only its hash.
CREATE TABLE sessions (
    token_hash   bytea PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz,
    user_agent   text
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Parent formats are configuration: a code matching `pattern` is a parent of that format.
CREATE TABLE parent_formats (
    name         text PRIMARY KEY,
    pattern      text NOT NULL,
    capacity     integer NOT NULL CHECK (capacity > 0),
    expected_kg  numeric(8, 2) NOT NULL CHECK (expected_kg > 0),
    created_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO parent_formats (name, pattern, capacity, expected_kg) VALUES
    ('standard', '^SB[0-9]{5}$', 30, 30),
    ('mini', '^M444-[0-9]{5}$', 15, 15);

-- Who made a bag, link, bill membership or scan (created_by, linked_by, added_by, scans.user_id) is
-- a user id without a foreign key: users are never deleted (they are deactivated), so the id cannot
-- dangle, and these rows are written for every scan, where a per-row key check costs the most.

-- One row per bag. Codes are normalised (upper case) at the edge, and the check makes uniqueness
-- case-insensitive by construction: `code = upper(lower(code))` admits upper case only, and only the
-- one upper-case spelling of each lower-case form (the Kelvin sign U+212A is upper case too, but
-- lower-cases to 'k', whose upper case is 'K'). A bag's kind and capacity never change (bags_fixed).
CREATE TABLE bags (
    id           bigserial PRIMARY KEY,
    code         text NOT NULL CHECK (code = upper(lower(code)) AND length(code) BETWEEN 4 AND 40),
    kind         char(1) NOT NULL CHECK (kind IN ('P', 'C')),
    format       text REFERENCES parent_formats (name),
    capacity     integer,
    expected_kg  numeric(8, 2),
    child_count  integer NOT NULL DEFAULT 0,
    area         text NOT NULL REFERENCES areas (name) ON UPDATE CASCADE,
    created_by   bigint,
    created_at   timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz,
    UNIQUE (code),
    UNIQUE (id, kind),
    CHECK ((kind = 'P') = (format IS NOT NULL AND capacity IS NOT NULL AND expected_kg IS NOT NULL)),
    CHECK (child_count >= 0 AND (kind = 'P' OR child_count = 0)),
    CHECK (child_count <= capacity),
    CHECK ((completed_at IS NOT NULL) = (kind = 'P' AND child_count = capacity))
);
CREATE INDEX bags_list ON bags (area, kind, created_at DESC, id DESC);
CREATE INDEX bags_parent_progress ON bags (area, created_at DESC) WHERE kind = 'P' AND completed_at IS NULL;

-- Current links. The primary key puts a child in one parent only; the composite keys make sure a
-- child is a child and a parent is a parent.
CREATE TABLE links (
    child_id     bigint PRIMARY KEY,
    child_kind   char(1) NOT NULL DEFAULT 'C' CHECK (child_kind = 'C'),
    parent_id    bigint NOT NULL,
    parent_kind  char(1) NOT NULL DEFAULT 'P' CHECK (parent_kind = 'P'),
    linked_by    bigint,
    linked_at    timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (child_id, child_kind) REFERENCES bags (id, kind),
    FOREIGN KEY (parent_id, parent_kind) REFERENCES bags (id, kind)
);
CREATE INDEX links_parent ON links (parent_id);

-- The parent's child_count is a counter kept by PostgreSQL itself, under the parent row's lock,
-- checked against the capacity by the bags table's constraints. Statement-level, so a batch of
-- links costs one update per parent, not one per child.
CREATE FUNCTION links_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bags b
       SET child_count = b.child_count + n.added,
           completed_at = CASE WHEN b.child_count + n.added = b.capacity THEN now() END
      FROM (SELECT parent_id, count(*)::integer AS added FROM new_links GROUP BY parent_id) n
     WHERE b.id = n.parent_id;
    RETURN NULL;
END $$;

CREATE FUNCTION links_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bags b
       SET child_count = b.child_count - o.removed,
           completed_at = NULL
      FROM (SELECT parent_id, count(*)::integer AS removed FROM old_links GROUP BY parent_id) o
     WHERE b.id = o.parent_id;
    RETURN NULL;
END $$;

CREATE TRIGGER links_count_insert AFTER INSERT ON links
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION links_count_insert();
CREATE TRIGGER links_count_delete AFTER DELETE ON links
    REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT EXECUTE FUNCTION links_count_delete();

CREATE FUNCTION links_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'links are inserted or deleted, never updated' USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER links_immutable BEFORE UPDATE ON links FOR EACH ROW EXECUTE FUNCTION links_immutable();

-- What the counter rests on: child_count starts at 0 and only the links triggers move it
-- (pg_trigger_depth() is 0 outside any trigger), so it always equals the number of links; and a
-- bag's kind and capacity are fixed when it is created. The WHEN clauses make the guards free for
-- rows that keep the rules; AFTER, not BEFORE, because a BEFORE INSERT row trigger would stop COPY
-- from inserting in batches.
CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%', TG_ARGV[0] USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER bags_start_empty AFTER INSERT ON bags FOR EACH ROW
    WHEN (NEW.child_count <> 0)
    EXECUTE FUNCTION refuse('a new bag holds no children: links fill it');
CREATE TRIGGER bags_count_by_links AFTER UPDATE ON bags FOR EACH ROW
    WHEN (NEW.child_count <> OLD.child_count AND pg_trigger_depth() = 0)
    EXECUTE FUNCTION refuse('child_count follows the links: insert or delete links instead');
CREATE TRIGGER bags_fixed AFTER UPDATE ON bags FOR EACH ROW
    WHEN (NEW.kind <> OLD.kind OR NEW.capacity IS DISTINCT FROM OLD.capacity)
    EXECUTE FUNCTION refuse('a bag is a parent or a child for ever, and keeps its capacity');

CREATE TABLE bills (
    id            bigserial PRIMARY KEY,
    code          text NOT NULL CHECK (code = upper(lower(code)) AND length(code) BETWEEN 1 AND 40),
    capacity      integer NOT NULL CHECK (capacity BETWEEN 1 AND 1000),
    parent_count  integer NOT NULL DEFAULT 0,
    destination   text NOT NULL DEFAULT '',
    vehicle       text NOT NULL DEFAULT '',
    area          text NOT NULL REFERENCES areas (name) ON UPDATE CASCADE,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'completed')),
    created_by    bigint REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    completed_at  timestamptz,
    UNIQUE (code),
    CHECK (parent_count BETWEEN 0 AND capacity),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CHECK (status = 'open' OR parent_count > 0)
);
CREATE INDEX bills_list ON bills (area, status, created_at DESC, id DESC);

-- A parent is on one bill at most (primary key); only complete parents, only on open bills, never
-- above the bill's capacity (checked by the triggers below under the bill row's lock).
CREATE TABLE bill_parents (
    parent_id    bigint PRIMARY KEY,
    parent_kind  char(1) NOT NULL DEFAULT 'P' CHECK (parent_kind = 'P'),
    bill_id      bigint NOT NULL REFERENCES bills (id),
    added_by     bigint,
    added_at     timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (parent_id, parent_kind) REFERENCES bags (id, kind)
);
CREATE INDEX bill_parents_bill ON bill_parents (bill_id);

-- The parents and bills are locked before they are checked, and each check reads the latest
-- commits: an unlink from one of the parents or the completion of the bill, running at the same
-- moment, either waits for this transaction (and then sees its bill_parents rows) or is seen here.
CREATE FUNCTION bill_parents_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM bags WHERE id IN (SELECT parent_id FROM new_parents) ORDER BY id FOR SHARE;
    PERFORM 1 FROM bills WHERE id IN (SELECT bill_id FROM new_parents) ORDER BY id FOR NO KEY UPDATE;
    IF EXISTS (SELECT 1 FROM new_parents n JOIN bags b ON b.id = n.parent_id
                WHERE b.child_count < b.capacity) THEN
        RAISE EXCEPTION 'only complete parents go on a bill' USING ERRCODE = 'check_violation';
    END IF;
    IF EXISTS (SELECT 1 FROM new_parents n JOIN bills l ON l.id = n.bill_id WHERE l.status <> 'open') THEN
        RAISE EXCEPTION 'parents go only on open bills' USING ERRCODE = 'check_violation';
    END IF;
    UPDATE bills l SET parent_count = l.parent_count + n.added
      FROM (SELECT bill_id, count(*)::integer AS added FROM new_parents GROUP BY bill_id) n
     WHERE l.id = n.bill_id;
    RETURN NULL;
END $$;

CREATE FUNCTION bill_parents_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bills l SET parent_count = l.parent_count - o.removed
      FROM (SELECT bill_id, count(*)::integer AS removed FROM old_parents GROUP BY bill_id) o
     WHERE l.id = o.bill_id;
    RETURN NULL;
END $$;

CREATE TRIGGER bill_parents_insert AFTER INSERT ON bill_parents
    REFERENCING NEW TABLE AS new_parents FOR EACH STATEMENT EXECUTE FUNCTION bill_parents_insert();
CREATE TRIGGER bill_parents_delete AFTER DELETE ON bill_parents
    REFERENCING OLD TABLE AS old_parents FOR EACH STATEMENT EXECUTE FUNCTION bill_parents_delete();
CREATE TRIGGER bill_parents_immutable BEFORE UPDATE ON bill_parents
    FOR EACH ROW EXECUTE FUNCTION links_immutable();
CREATE TRIGGER bills_start_empty AFTER INSERT ON bills FOR EACH ROW
    WHEN (NEW.parent_count <> 0)
    EXECUTE FUNCTION refuse('a new bill holds no parents: bill_parents fill it');
CREATE TRIGGER bills_count_by_parents AFTER UPDATE ON bills FOR EACH ROW
    WHEN (NEW.parent_count <> OLD.parent_count AND pg_trigger_depth() = 0)
    EXECUTE FUNCTION refuse('parent_count follows bill_parents: insert or delete them instead');

-- A child of a parent that is on a bill stays where it is.
CREATE FUNCTION links_delete_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_links o JOIN bill_parents p ON p.parent_id = o.parent_id) THEN
        RAISE EXCEPTION 'a parent on a bill keeps its children' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER links_delete_guard AFTER DELETE ON links
    REFERENCING OLD TABLE AS old_links FOR EACH STATEMENT EXECUTE FUNCTION links_delete_guard();

-- Every scan, accepted or rejected. (device_id, seq) is applied once.
CREATE TABLE scans (
    id           bigserial PRIMARY KEY,
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
    server_time  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (device_id, seq)
);
CREATE INDEX scans_time ON scans (server_time);
CREATE INDEX scans_code ON scans (code);

-- The last applied seq per device, written in the same transaction as the scan's effects.
CREATE TABLE devices (
    device_id    text PRIMARY KEY,
    user_id      bigint REFERENCES users (id),
    last_seq     bigint NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id        bigserial PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    actor_id  bigint REFERENCES users (id),
    action    text NOT NULL,
    target    text NOT NULL,
    before    jsonb,
    after     jsonb
);
CREATE INDEX audit_log_at ON audit_log (at DESC);
CREATE INDEX audit_log_target ON audit_log (target);

-- Live counters per minute, area and device, written in the same transaction as each batch, so the
-- dashboards' numbers always equal what SQL counts over scans, links and bills.
CREATE TABLE scan_stats (
    minute             timestamptz NOT NULL,
    area               text NOT NULL,
    device_id          text NOT NULL,
    accepted           integer NOT NULL DEFAULT 0,
    rejected           integer NOT NULL DEFAULT 0,
    children_linked    integer NOT NULL DEFAULT 0,
    parents_completed  integer NOT NULL DEFAULT 0,
    bills_completed    integer NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, area, device_id)
);

-- Undo finds an operator's last link or bill addition still in effect.
CREATE INDEX links_linked_by ON links (linked_by, linked_at DESC);
CREATE INDEX bill_parents_added_by ON bill_parents (added_by, added_at DESC);
