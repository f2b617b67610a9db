-- Collections, persons and person images of the blacklist plugin, SQLite flavour
-- (keep in step with ../postgres/0001_collections.sql).
-- A collection belongs to a company: the company cannot be deleted while it holds one.
-- `version` grows with every change of its persons or images: the search index of a collection
-- records the version it was built from and is rebuilt when they differ.
CREATE TABLE blacklist_collections (
    collection_id TEXT NOT NULL PRIMARY KEY,
    company_id TEXT NOT NULL REFERENCES companies (company_id),
    alias TEXT NOT NULL,
    meta_data TEXT NOT NULL,
    version INTEGER NOT NULL,
    time_created TEXT NOT NULL,
    time_updated TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX blacklist_collections_alias ON blacklist_collections (company_id, alias);

CREATE TABLE blacklist_persons (
    person_id TEXT NOT NULL PRIMARY KEY,
    collection_id TEXT NOT NULL REFERENCES blacklist_collections (collection_id) ON DELETE CASCADE,
    meta_data TEXT NOT NULL,
    time_created TEXT NOT NULL,
    time_updated TEXT NOT NULL
) STRICT;
CREATE INDEX blacklist_persons_collection ON blacklist_persons (collection_id, time_created);

-- One enrolled photo: its file (content-addressed in the plugin's storage) and the embedding of
-- its one face. `search_key` is the integer the search index knows the embedding by.
CREATE TABLE blacklist_person_images (
    search_key INTEGER PRIMARY KEY AUTOINCREMENT,
    person_image_id TEXT NOT NULL UNIQUE,
    person_id TEXT NOT NULL REFERENCES blacklist_persons (person_id) ON DELETE CASCADE,
    collection_id TEXT NOT NULL REFERENCES blacklist_collections (collection_id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL,
    extension TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    original_name TEXT NOT NULL,
    tags TEXT NOT NULL,
    embedding BLOB NOT NULL,
    embedding_space TEXT NOT NULL,
    embedding_model TEXT NOT NULL,
    time_created TEXT NOT NULL
) STRICT;
CREATE INDEX blacklist_person_images_person ON blacklist_person_images (person_id);
CREATE INDEX blacklist_person_images_gallery ON blacklist_person_images (collection_id, embedding_space);
CREATE INDEX blacklist_person_images_sha256 ON blacklist_person_images (sha256);
