-- Operator decisions, SQLite flavour (keep in step with migrations/postgres/0003_operator_decisions.sql).
-- The audit trail of the web console and the API: one row per analysis result a person overrode
-- (domain/decisions.py). Rows go with their folder (retention deletes a folder whole, comments
-- included); user_email is copied so the trail outlives a renamed or deleted account.
CREATE TABLE operator_decisions (
    decision_id TEXT NOT NULL PRIMARY KEY,
    folder_id TEXT NOT NULL REFERENCES folders (folder_id) ON DELETE CASCADE,
    analysis_id TEXT NOT NULL REFERENCES analyses (analysis_id) ON DELETE CASCADE,
    company_id TEXT,
    user_id TEXT NOT NULL,
    user_email TEXT NOT NULL,
    old_resolution TEXT NOT NULL,
    new_resolution TEXT NOT NULL,
    comment TEXT NOT NULL,
    time_created TEXT NOT NULL
) STRICT;
CREATE INDEX operator_decisions_folder_idx ON operator_decisions (folder_id, time_created);

-- The console's statistics read analyses by the time they ended.
CREATE INDEX analyses_time_finished_idx ON analyses (time_finished);
