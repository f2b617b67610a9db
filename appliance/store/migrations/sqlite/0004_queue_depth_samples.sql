-- Queue depth samples, SQLite flavour (keep in step with migrations/postgres/0004_queue_depth_samples.sql).
-- The scheduler records how many tasks wait in each queue, every `scheduler.queue_depth_sample_seconds`,
-- for the console's statistics; the retention job deletes samples older than
-- `scheduler.queue_depth_retention_days`. A depth counts every company's work and names nothing else.
-- The key's order serves both readers: a period's samples and the retention's cut are time ranges.
CREATE TABLE queue_depth_samples (
    time_sampled TEXT NOT NULL,
    queue TEXT NOT NULL,
    depth INTEGER NOT NULL,
    PRIMARY KEY (time_sampled, queue)
) STRICT;
