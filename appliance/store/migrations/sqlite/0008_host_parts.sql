-- The parts each host runs, SQLite flavour (keep in step with migrations/postgres/0008_host_parts.sql).
-- Every process of the appliance (the API, each queue's worker consumer, each scheduler) records
-- itself here when it starts and again at every heartbeat (`hosts.heartbeat_seconds`): its host,
-- its part (`api`, `worker:<queue>`, `scheduler`), its process id, its role (a scheduler's `leader`
-- or `standby`; NULL for the other parts), when it started and when it was last seen. A row not
-- seen for `hosts.stale_heartbeats` heartbeats is stale: its process died, or its host did.
-- A process forgets the stale rows of its own host and part (an earlier process it replaces);
-- the retention job forgets rows not seen for 30 days (a retired host).
CREATE TABLE host_parts (
    hostname TEXT NOT NULL,
    part TEXT NOT NULL,
    pid INTEGER NOT NULL,
    role TEXT,
    time_started TEXT NOT NULL,
    time_seen TEXT NOT NULL,
    PRIMARY KEY (hostname, part, pid)
) STRICT;
