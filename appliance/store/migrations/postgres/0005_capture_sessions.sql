-- Capture sessions, PostgreSQL flavour (keep in step with migrations/sqlite/0005_capture_sessions.sql).
-- One row per session (domain/capture.py): its random challenge, the hash of its token (the
-- capture page's address; the token itself is never stored), when it expires and when the upload
-- used it, and what the page reported of the camera. Rows go with their folder.
CREATE TABLE capture_sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    token_hash TEXT NOT NULL UNIQUE,
    folder_id TEXT NOT NULL REFERENCES folders (folder_id) ON DELETE CASCADE,
    company_id TEXT,
    user_id TEXT NOT NULL,
    steps JSONB NOT NULL,
    schedule JSONB NOT NULL,
    analyses JSONB NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    time_used TIMESTAMPTZ,
    media_id TEXT,
    report JSONB NOT NULL,
    time_created TIMESTAMPTZ NOT NULL
);
CREATE INDEX capture_sessions_folder_idx ON capture_sessions (folder_id, time_created);
