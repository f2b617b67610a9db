-- Initial schema, PostgreSQL flavour (keep in step with migrations/sqlite/0001_initial.sql).
-- IDs are UUID text. Times are timestamptz, JSON columns jsonb, flags boolean.
-- `seq` numbers a folder's media and analyses in insertion order (upload and creation order).

CREATE TABLE schema_migrations (
    name TEXT NOT NULL PRIMARY KEY,
    applied_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE companies (
    company_id TEXT NOT NULL PRIMARY KEY,
    name TEXT NOT NULL,
    webhook_secret TEXT NOT NULL,
    webhook_url TEXT,
    meta_data JSONB NOT NULL,
    time_created TIMESTAMPTZ NOT NULL,
    time_updated TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX companies_name_key ON companies (name);

CREATE TABLE users (
    user_id TEXT NOT NULL PRIMARY KEY,
    email TEXT NOT NULL,
    user_type TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    first_name TEXT NOT NULL,
    last_name TEXT NOT NULL,
    middle_name TEXT NOT NULL,
    company_id TEXT REFERENCES companies (company_id),
    is_admin BOOLEAN NOT NULL,
    is_service BOOLEAN NOT NULL,
    is_active BOOLEAN NOT NULL,
    can_start_analysis_quality BOOLEAN NOT NULL,
    can_start_analysis_biometry BOOLEAN NOT NULL,
    can_start_analysis_collection BOOLEAN NOT NULL,
    can_start_analysis_documents BOOLEAN NOT NULL,
    failed_logins INTEGER NOT NULL,
    locked_until TIMESTAMPTZ,
    meta_data JSONB NOT NULL,
    time_created TIMESTAMPTZ NOT NULL,
    time_updated TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_email_key ON users (lower(email));
CREATE INDEX users_company_id_idx ON users (company_id);

CREATE TABLE sessions (
    session_id TEXT NOT NULL PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    access_token_hash TEXT NOT NULL,
    expire_token_hash TEXT NOT NULL,
    access_expires_at TIMESTAMPTZ NOT NULL,
    expire_token_expires_at TIMESTAMPTZ NOT NULL,
    time_created TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX sessions_access_token_hash_key ON sessions (access_token_hash);
CREATE UNIQUE INDEX sessions_expire_token_hash_key ON sessions (expire_token_hash);
CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expire_token_expires_at_idx ON sessions (expire_token_expires_at);

-- No foreign key on user_id: a folder belongs to its company and outlives the user who made it.
CREATE TABLE folders (
    folder_id TEXT NOT NULL PRIMARY KEY,
    company_id TEXT REFERENCES companies (company_id),
    user_id TEXT NOT NULL,
    resolution_status TEXT NOT NULL,
    system_resolution TEXT NOT NULL,
    resolution_endpoint TEXT,
    meta_data JSONB NOT NULL,
    technical_meta_data JSONB NOT NULL,
    time_created TIMESTAMPTZ NOT NULL,
    time_updated TIMESTAMPTZ NOT NULL
);
CREATE INDEX folders_company_created_idx ON folders (company_id, time_created);
CREATE INDEX folders_company_updated_idx ON folders (company_id, time_updated);
CREATE INDEX folders_user_created_idx ON folders (user_id, time_created);
CREATE INDEX folders_user_updated_idx ON folders (user_id, time_updated);
CREATE INDEX folders_time_created_idx ON folders (time_created);
CREATE INDEX folders_time_updated_idx ON folders (time_updated);

CREATE TABLE media (
    media_id TEXT NOT NULL PRIMARY KEY,
    folder_id TEXT NOT NULL REFERENCES folders (folder_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    extension TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    original_name TEXT NOT NULL,
    tags JSONB NOT NULL,
    width INTEGER,
    height INTEGER,
    frame_count INTEGER,
    duration_seconds DOUBLE PRECISION,
    has_thumbnail BOOLEAN NOT NULL,
    has_preview BOOLEAN NOT NULL,
    meta_data JSONB NOT NULL,
    time_created TIMESTAMPTZ NOT NULL,
    time_updated TIMESTAMPTZ NOT NULL
);
CREATE INDEX media_folder_seq_idx ON media (folder_id, seq);
CREATE INDEX media_sha256_idx ON media (sha256);

CREATE TABLE analyses (
    analysis_id TEXT NOT NULL PRIMARY KEY,
    folder_id TEXT NOT NULL REFERENCES folders (folder_id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    resolution_status TEXT NOT NULL,
    params JSONB NOT NULL,
    source_media JSONB NOT NULL,
    results_data JSONB NOT NULL,
    results_media JSONB NOT NULL,
    error_code INTEGER,
    error_message TEXT,
    attempt INTEGER NOT NULL,
    time_queued TIMESTAMPTZ,
    time_started TIMESTAMPTZ,
    time_finished TIMESTAMPTZ,
    plugin TEXT,
    plugin_version TEXT,
    model_versions JSONB NOT NULL,
    meta_data JSONB NOT NULL,
    time_created TIMESTAMPTZ NOT NULL,
    time_updated TIMESTAMPTZ NOT NULL
);
CREATE INDEX analyses_folder_seq_idx ON analyses (folder_id, seq);
CREATE INDEX analyses_state_idx ON analyses (state);

-- company_id records where the webhook was addressed; the delivery goes with its folder.
CREATE TABLE webhook_deliveries (
    delivery_id TEXT NOT NULL PRIMARY KEY,
    folder_id TEXT NOT NULL REFERENCES folders (folder_id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    company_id TEXT,
    event TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMPTZ,
    last_status_code INTEGER,
    last_error TEXT,
    time_created TIMESTAMPTZ NOT NULL,
    time_updated TIMESTAMPTZ NOT NULL
);
CREATE INDEX webhook_deliveries_folder_id_idx ON webhook_deliveries (folder_id);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (status, next_attempt_at);
