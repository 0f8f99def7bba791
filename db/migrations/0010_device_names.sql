-- A handheld's name, given by an admin, which dashboards show instead of its id.
ALTER TABLE devices ADD COLUMN name text CHECK (name IS NULL OR length(name) BETWEEN 1 AND 60);
