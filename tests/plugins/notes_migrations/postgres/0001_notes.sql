-- The notes test plugin's table, PostgreSQL flavour.
CREATE TABLE notes_notes (
    note_id TEXT NOT NULL PRIMARY KEY,
    company_id TEXT NOT NULL,
    text TEXT NOT NULL,
    meta_data JSONB NOT NULL,
    time_created TIMESTAMPTZ NOT NULL
);
