-- A device id belongs to the user who first said hello with it, until an admin releases it.
-- `user_id` stays what it was: the user of the device's last applied scan.
ALTER TABLE devices ADD COLUMN owner_id bigint REFERENCES users (id);
ALTER TABLE devices ADD COLUMN bound_at timestamptz;
UPDATE devices SET owner_id = user_id, bound_at = updated_at WHERE user_id IS NOT NULL;
