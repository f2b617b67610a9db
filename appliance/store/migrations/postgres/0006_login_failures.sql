-- Login throttling, PostgreSQL flavour (keep in step with migrations/sqlite/0006_login_failures.sql).
-- Failed logins counted per source address (`account` empty) and per account and address
-- (appliance/auth/throttle.py), so that wrong passwords from one address slow that address down
-- and never lock the account's owner out elsewhere. `account` is the email as typed, lower case,
-- whether or not a user has it (unknown and existing accounts are throttled alike). A row's
-- count starts again after `auth.login_failure_window_seconds` without a failure. The per-account
-- lock of 0001 goes: it let anyone lock any account.
CREATE TABLE login_failures (
    account TEXT NOT NULL,
    address TEXT NOT NULL,
    failures INTEGER NOT NULL,
    last_failure TIMESTAMPTZ NOT NULL,
    blocked_until TIMESTAMPTZ,
    PRIMARY KEY (account, address)
);
CREATE INDEX login_failures_last_idx ON login_failures (last_failure);
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN locked_until;
