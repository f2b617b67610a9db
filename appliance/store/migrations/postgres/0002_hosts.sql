-- Hosts, PostgreSQL flavour (keep in step with migrations/sqlite/0002_hosts.sql).
-- One row per host running the appliance (API or worker): the signed model bundle active in its
-- model store (`<models_root>/.bundle.json`, written by the updater) and its active model versions,
-- reported when the process starts. bundle_id is NULL for a store no bundle was installed into.
CREATE TABLE hosts (
    hostname TEXT NOT NULL PRIMARY KEY,
    bundle_id TEXT,
    bundle_version BIGINT,
    models JSONB NOT NULL,
    time_updated TIMESTAMPTZ NOT NULL
);
