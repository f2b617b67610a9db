-- The notes test plugin's table, SQLite flavour.
CREATE TABLE notes_notes (
    note_id TEXT NOT NULL PRIMARY KEY,
    company_id TEXT NOT NULL,
    text TEXT NOT NULL,
    meta_data TEXT NOT NULL,
    time_created TEXT NOT NULL
) STRICT;
