-- Wrong passwords no longer lock an account (login limits count failures per address and account,
-- in the rate limiter): the lockout columns are gone.
ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN locked_until;
