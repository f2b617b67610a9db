-- Analysis leases, SQLite flavour (keep in step with migrations/postgres/0007_analysis_leases.sql).
-- A worker that takes an analysis's task records the start with a lease, and renews it while it
-- works; the expiry job retries a PROCESSING analysis whose lease lapsed. A never-started analysis
-- the expiry job found in no queue gets a short lease too: if it is still not started when that
-- lapses, its task was lost (taken by a worker that died, or never enqueued) and it is enqueued again.
-- The same job resolves a PROCESSING folder whose analyses all ended (the worker that ended the last
-- one died before it enqueued the resolution): the index finds those folders without a scan.
ALTER TABLE analyses ADD COLUMN lease_expires_at TEXT;
CREATE INDEX folders_status_idx ON folders (resolution_status);
