-- A child is in the dispatch area of its parent, always: a link joins two bags of one area, and an
-- area changes only for a parent and all its children at once (a reassignment). Held here too, so
-- that no path (a loose child of another area scanned into a parent, an import) can break it.
CREATE FUNCTION links_same_area() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_links n JOIN bags c ON c.id = n.child_id JOIN bags p ON p.id = n.parent_id
                WHERE c.area <> p.area) THEN
        RAISE EXCEPTION 'a child goes only into a parent of its own dispatch area' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER links_same_area AFTER INSERT ON links
    REFERENCING NEW TABLE AS new_links FOR EACH STATEMENT EXECUTE FUNCTION links_same_area();

-- Row by row, but only for rows whose area changed; AFTER row triggers run once the statement is
-- done, so a parent and its children moved by one UPDATE are judged together.
CREATE FUNCTION bags_area_with_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM links l JOIN bags c ON c.id = l.child_id JOIN bags p ON p.id = l.parent_id
                WHERE (l.child_id = NEW.id OR l.parent_id = NEW.id) AND c.area <> p.area) THEN
        RAISE EXCEPTION 'a parent changes area with all its children' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER bags_area_with_links AFTER UPDATE OF area ON bags FOR EACH ROW
    WHEN (OLD.area IS DISTINCT FROM NEW.area) EXECUTE FUNCTION bags_area_with_links();
