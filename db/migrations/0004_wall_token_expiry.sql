-- A wall-screen token may expire: after expires_at it opens no dashboard (NULL: until revoked).
ALTER TABLE wall_tokens ADD COLUMN expires_at timestamptz;
