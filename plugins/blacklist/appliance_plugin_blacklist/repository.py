"""Collections, persons and person images in the plugin's tables (migrations/), through `PluginDatabase`.

Every change to a collection's persons or images bumps the collection's `version` in the same
transaction: a search index built from another version is stale (index.py). Deleting returns the
files the deleted rows named, so that the caller removes the ones no row names any more.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from appliance.sdk import PluginDatabase

__all__ = [
    "AliasTaken",
    "Collection",
    "CollectionRepository",
    "CompanyNotFound",
    "FileRef",
    "NewImage",
    "Person",
    "PersonImage",
    "Reembedded",
    "ReenrolmentCounts",
    "SearchHit",
]

#: The dtype embeddings are stored in (dlib gives float64; float32 keeps every digit a distance needs).
EMBEDDING_DTYPE = np.float32


class AliasTaken(Exception):
    """The company already has a collection with this alias."""


class CompanyNotFound(Exception):
    """The collection names a company that does not exist."""


@dataclass(frozen=True, slots=True)
class Collection:
    collection_id: str
    company_id: str
    alias: str
    meta_data: dict[str, Any]
    version: int
    time_created: datetime
    time_updated: datetime


@dataclass(frozen=True, slots=True)
class FileRef:
    sha256: str
    extension: str


@dataclass(frozen=True, slots=True)
class NewImage:
    """A checked photo with the embedding of its one face, about to be enrolled."""

    file: FileRef
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    original_name: str
    tags: list[str]
    embedding: np.ndarray
    embedding_space: str
    embedding_model: str
    person_image_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass(frozen=True, slots=True)
class PersonImage:
    person_image_id: str
    person_id: str
    collection_id: str
    file: FileRef
    mime_type: str
    size_bytes: int
    width: int | None
    height: int | None
    original_name: str
    tags: list[str]
    embedding_space: str
    embedding_model: str
    time_created: datetime


@dataclass(frozen=True, slots=True)
class Person:
    person_id: str
    collection_id: str
    meta_data: dict[str, Any]
    time_created: datetime
    time_updated: datetime


@dataclass(frozen=True, slots=True)
class SearchHit:
    """Whose embedding a search key is."""

    person_id: str
    person_image_id: str


@dataclass(frozen=True, slots=True)
class Reembedded:
    """A photo's embedding in a newer space, computed from its stored file."""

    image: PersonImage
    embedding: np.ndarray
    space: str
    model: str


@dataclass(frozen=True, slots=True)
class ReenrolmentCounts:
    """One collection's photos: how many are in the active embedding space, and how many could not be."""

    collection_id: str
    total: int
    in_space: int
    failed: int


_IMAGE_COLUMNS = (
    "person_image_id, person_id, collection_id, sha256, extension, mime_type, size_bytes, width, height,"
    " original_name, tags, embedding_space, embedding_model, time_created"
)


class CollectionRepository:
    def __init__(self, db: PluginDatabase) -> None:
        self.db = db

    # Collections ----------------------------------------------------------------------------------
    def create_collection(self, company_id: str, alias: str, meta_data: dict[str, Any]) -> Collection:
        collection_id, now = str(uuid.uuid4()), self.db.now()
        with self.db.transaction():
            taken = self.db.fetch(
                "SELECT 1 AS taken FROM blacklist_collections WHERE company_id = :company_id AND alias = :alias",
                {"company_id": company_id, "alias": alias},
            )
            if taken:
                raise AliasTaken(alias)
            try:
                self.db.execute(
                    "INSERT INTO blacklist_collections"
                    " (collection_id, company_id, alias, meta_data, version, time_created, time_updated)"
                    " VALUES (:collection_id, :company_id, :alias, :meta_data, 0, :now, :now)",
                    {
                        "collection_id": collection_id,
                        "company_id": company_id,
                        "alias": alias,
                        "meta_data": self.db.json(meta_data),
                        "now": now,
                    },
                )
            except self.db.integrity_error as exc:
                raise CompanyNotFound(company_id) from exc
        collection = self.get_collection(collection_id)
        assert collection is not None
        return collection

    def get_collection(self, collection_id: str) -> Collection | None:
        rows = self.db.fetch("SELECT * FROM blacklist_collections WHERE collection_id = :id", {"id": collection_id})
        return self._collection(rows[0]) if rows else None

    def list_collections(self, company_id: str | None, offset: int, limit: int) -> tuple[list[Collection], int]:
        """A page of collections, of one company or of all (None), oldest first."""
        where, params = ("company_id = :company_id", {"company_id": company_id}) if company_id else ("1 = 1", {})
        rows = self.db.fetch(
            f"SELECT * FROM blacklist_collections WHERE {where} ORDER BY time_created, collection_id"
            " LIMIT :limit OFFSET :offset",
            {**params, "limit": limit, "offset": offset},
        )
        total = self.db.fetch(f"SELECT COUNT(*) AS n FROM blacklist_collections WHERE {where}", params)[0]["n"]
        return [self._collection(row) for row in rows], int(total)

    def collections_of(self, company_id: str | None) -> list[Collection]:
        """Every collection of a company; of every company for None."""
        return self.list_collections(company_id, 0, 1_000_000)[0]

    def set_collection_meta(self, collection_id: str, meta_data: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE blacklist_collections SET meta_data = :meta_data, time_updated = :now WHERE collection_id = :id",
            {"meta_data": self.db.json(meta_data), "now": self.db.now(), "id": collection_id},
        )

    def delete_collection(self, collection_id: str) -> list[FileRef]:
        """Delete the collection with its persons and images; the files the images named."""
        with self.db.transaction():
            files = self._files("collection_id = :id", {"id": collection_id})
            self.db.execute("DELETE FROM blacklist_collections WHERE collection_id = :id", {"id": collection_id})
        return files

    def version(self, collection_id: str) -> int | None:
        rows = self.db.fetch(
            "SELECT version FROM blacklist_collections WHERE collection_id = :id", {"id": collection_id}
        )
        return int(rows[0]["version"]) if rows else None

    # Persons --------------------------------------------------------------------------------------
    def create_person(self, collection_id: str, meta_data: dict[str, Any], images: Sequence[NewImage]) -> Person:
        person_id, now = str(uuid.uuid4()), self.db.now()
        with self.db.transaction():
            self.db.execute(
                "INSERT INTO blacklist_persons (person_id, collection_id, meta_data, time_created, time_updated)"
                " VALUES (:person_id, :collection_id, :meta_data, :now, :now)",
                {
                    "person_id": person_id,
                    "collection_id": collection_id,
                    "meta_data": self.db.json(meta_data),
                    "now": now,
                },
            )
            self._insert_images(collection_id, person_id, images)
        person = self.get_person(collection_id, person_id)
        assert person is not None
        return person

    def get_person(self, collection_id: str, person_id: str) -> Person | None:
        rows = self.db.fetch(
            "SELECT * FROM blacklist_persons WHERE person_id = :person_id AND collection_id = :collection_id",
            {"person_id": person_id, "collection_id": collection_id},
        )
        return self._person(rows[0]) if rows else None

    def list_persons(self, collection_id: str, offset: int, limit: int) -> tuple[list[Person], int]:
        params = {"collection_id": collection_id}
        rows = self.db.fetch(
            "SELECT * FROM blacklist_persons WHERE collection_id = :collection_id"
            " ORDER BY time_created, person_id LIMIT :limit OFFSET :offset",
            {**params, "limit": limit, "offset": offset},
        )
        total = self.db.fetch(
            "SELECT COUNT(*) AS n FROM blacklist_persons WHERE collection_id = :collection_id", params
        )[0]["n"]
        return [self._person(row) for row in rows], int(total)

    def person_counts(self, collection_ids: Sequence[str]) -> dict[str, int]:
        """How many persons each collection holds."""
        counts = dict.fromkeys(collection_ids, 0)
        if not counts:
            return counts
        names = [f"c{i}" for i in range(len(counts))]
        rows = self.db.fetch(
            "SELECT collection_id, COUNT(*) AS n FROM blacklist_persons"
            f" WHERE collection_id IN ({', '.join(':' + n for n in names)}) GROUP BY collection_id",
            dict(zip(names, counts, strict=True)),
        )
        counts.update({row["collection_id"]: int(row["n"]) for row in rows})
        return counts

    def set_person_meta(self, person_id: str, meta_data: dict[str, Any]) -> None:
        self.db.execute(
            "UPDATE blacklist_persons SET meta_data = :meta_data, time_updated = :now WHERE person_id = :id",
            {"meta_data": self.db.json(meta_data), "now": self.db.now(), "id": person_id},
        )

    def delete_person(self, collection_id: str, person_id: str) -> list[FileRef]:
        with self.db.transaction():
            files = self._files("person_id = :id", {"id": person_id})
            self.db.execute("DELETE FROM blacklist_persons WHERE person_id = :id", {"id": person_id})
            self._bump(collection_id)
        return files

    # Images ---------------------------------------------------------------------------------------
    def add_images(self, collection_id: str, person_id: str, images: Sequence[NewImage]) -> None:
        with self.db.transaction():
            self._insert_images(collection_id, person_id, images)
            self.db.execute(
                "UPDATE blacklist_persons SET time_updated = :now WHERE person_id = :id",
                {"now": self.db.now(), "id": person_id},
            )

    def images_of(self, person_ids: Sequence[str]) -> dict[str, list[PersonImage]]:
        """The images of each person, oldest first."""
        found: dict[str, list[PersonImage]] = {person_id: [] for person_id in person_ids}
        if not found:
            return found
        names = [f"p{i}" for i in range(len(found))]
        rows = self.db.fetch(
            f"SELECT {_IMAGE_COLUMNS} FROM blacklist_person_images"
            f" WHERE person_id IN ({', '.join(':' + n for n in names)}) ORDER BY search_key",
            dict(zip(names, found, strict=True)),
        )
        for row in rows:
            found[row["person_id"]].append(self._image(row))
        return found

    def get_image(self, person_id: str, person_image_id: str) -> PersonImage | None:
        rows = self.db.fetch(
            f"SELECT {_IMAGE_COLUMNS} FROM blacklist_person_images"
            " WHERE person_image_id = :image_id AND person_id = :person_id",
            {"image_id": person_image_id, "person_id": person_id},
        )
        return self._image(rows[0]) if rows else None

    def delete_image(self, image: PersonImage) -> None:
        with self.db.transaction():
            self.db.execute(
                "DELETE FROM blacklist_person_images WHERE person_image_id = :id", {"id": image.person_image_id}
            )
            self._bump(image.collection_id)

    def file_is_used(self, file: FileRef) -> bool:
        rows = self.db.fetch(
            "SELECT 1 AS used FROM blacklist_person_images WHERE sha256 = :sha256 LIMIT 1", {"sha256": file.sha256}
        )
        return bool(rows)

    # Search ---------------------------------------------------------------------------------------
    def gallery_rows(self, collection_id: str, space: str) -> tuple[np.ndarray, np.ndarray]:
        """The search keys and embeddings of a collection in one embedding space."""
        rows = self.db.fetch(
            "SELECT search_key, embedding FROM blacklist_person_images"
            " WHERE collection_id = :collection_id AND embedding_space = :space ORDER BY search_key",
            {"collection_id": collection_id, "space": space},
        )
        keys = np.fromiter((row["search_key"] for row in rows), np.int64, len(rows))
        vectors = np.frombuffer(b"".join(bytes(row["embedding"]) for row in rows), EMBEDDING_DTYPE)
        return keys, vectors.reshape(len(rows), -1) if rows else vectors.reshape(0, 0)

    def embedding_spaces(self, collection_id: str) -> dict[str, int]:
        """How many images of the collection each embedding space holds."""
        rows = self.db.fetch(
            "SELECT embedding_space, COUNT(*) AS n FROM blacklist_person_images"
            " WHERE collection_id = :collection_id GROUP BY embedding_space",
            {"collection_id": collection_id},
        )
        return {row["embedding_space"]: int(row["n"]) for row in rows}

    def hits(self, keys: Sequence[int]) -> dict[int, SearchHit]:
        """The person and image of each search key that still exists."""
        if not keys:
            return {}
        names = [f"k{i}" for i in range(len(keys))]
        rows = self.db.fetch(
            "SELECT search_key, person_id, person_image_id FROM blacklist_person_images"
            f" WHERE search_key IN ({', '.join(':' + n for n in names)})",
            dict(zip(names, (int(k) for k in keys), strict=True)),
        )
        return {int(row["search_key"]): SearchHit(row["person_id"], row["person_image_id"]) for row in rows}

    # Re-enrolment ---------------------------------------------------------------------------------
    def images_to_reenrol(self, space: str, limit: int) -> list[PersonImage]:
        """Photos enrolled in another space than `space` that were not found unusable for it, oldest first."""
        rows = self.db.fetch(
            f"SELECT {_IMAGE_COLUMNS} FROM blacklist_person_images WHERE embedding_space <> :space"
            " AND (reenrol_failed_space IS NULL OR reenrol_failed_space <> :space) ORDER BY search_key LIMIT :limit",
            {"space": space, "limit": limit},
        )
        return [self._image(row) for row in rows]

    def reembed(self, done: Sequence[Reembedded], failed: Sequence[tuple[PersonImage, str]]) -> int:
        """Store the new embeddings and mark the photos that failed for their space, in one transaction,
        each only while the photo is still in the space it was read in (a concurrent run or deletion
        wins); bumps each changed collection's version once. How many embeddings were replaced."""
        replaced = 0
        changed: set[str] = set()
        with self.db.transaction():
            for item in done:
                count = self.db.execute(
                    "UPDATE blacklist_person_images SET embedding = :embedding, embedding_space = :space,"
                    " embedding_model = :model, reenrol_failed_space = NULL"
                    " WHERE person_image_id = :id AND embedding_space = :old_space",
                    {
                        "embedding": np.asarray(item.embedding, EMBEDDING_DTYPE).tobytes(),
                        "space": item.space,
                        "model": item.model,
                        "id": item.image.person_image_id,
                        "old_space": item.image.embedding_space,
                    },
                )
                if count:
                    replaced += count
                    changed.add(item.image.collection_id)
            for image, space in failed:
                self.db.execute(
                    "UPDATE blacklist_person_images SET reenrol_failed_space = :space"
                    " WHERE person_image_id = :id AND embedding_space = :old_space",
                    {"space": space, "id": image.person_image_id, "old_space": image.embedding_space},
                )
            for collection_id in sorted(changed):
                self._bump(collection_id)
        return replaced

    def reenrolment_counts(self, space: str, collection_id: str | None = None) -> list[ReenrolmentCounts]:
        """Per collection with photos (or only `collection_id`): how many are in `space`, how many
        failed for it, of how many."""
        where, params = (
            ("WHERE collection_id = :collection_id", {"collection_id": collection_id}) if collection_id else ("", {})
        )
        rows = self.db.fetch(
            "SELECT collection_id, COUNT(*) AS total,"
            " SUM(CASE WHEN embedding_space = :space THEN 1 ELSE 0 END) AS in_space,"
            " SUM(CASE WHEN embedding_space <> :space AND reenrol_failed_space = :space THEN 1 ELSE 0 END) AS failed"
            f" FROM blacklist_person_images {where} GROUP BY collection_id ORDER BY collection_id",
            {"space": space, **params},
        )
        return [
            ReenrolmentCounts(row["collection_id"], int(row["total"]), int(row["in_space"]), int(row["failed"]))
            for row in rows
        ]

    # Building blocks ------------------------------------------------------------------------------
    def _insert_images(self, collection_id: str, person_id: str, images: Sequence[NewImage]) -> None:
        now = self.db.now()
        for image in images:
            self.db.execute(
                "INSERT INTO blacklist_person_images (person_image_id, person_id, collection_id, sha256, extension,"
                " mime_type, size_bytes, width, height, original_name, tags, embedding, embedding_space,"
                " embedding_model, time_created) VALUES (:person_image_id, :person_id, :collection_id, :sha256,"
                " :extension, :mime_type, :size_bytes, :width, :height, :original_name, :tags, :embedding,"
                " :embedding_space, :embedding_model, :now)",
                {
                    "person_image_id": image.person_image_id,
                    "person_id": person_id,
                    "collection_id": collection_id,
                    "sha256": image.file.sha256,
                    "extension": image.file.extension,
                    "mime_type": image.mime_type,
                    "size_bytes": image.size_bytes,
                    "width": image.width,
                    "height": image.height,
                    "original_name": image.original_name,
                    "tags": self.db.json(image.tags),
                    "embedding": np.asarray(image.embedding, EMBEDDING_DTYPE).tobytes(),
                    "embedding_space": image.embedding_space,
                    "embedding_model": image.embedding_model,
                    "now": now,
                },
            )
        self._bump(collection_id)

    def _bump(self, collection_id: str) -> None:
        self.db.execute(
            "UPDATE blacklist_collections SET version = version + 1, time_updated = :now WHERE collection_id = :id",
            {"now": self.db.now(), "id": collection_id},
        )

    def _files(self, where: str, params: dict[str, Any]) -> list[FileRef]:
        rows = self.db.fetch(f"SELECT DISTINCT sha256, extension FROM blacklist_person_images WHERE {where}", params)
        return [FileRef(row["sha256"], row["extension"]) for row in rows]

    def _collection(self, row: dict[str, Any]) -> Collection:
        return Collection(
            collection_id=row["collection_id"],
            company_id=row["company_id"],
            alias=row["alias"],
            meta_data=self.db.from_json(row["meta_data"]),
            version=int(row["version"]),
            time_created=self.db.from_time(row["time_created"]),
            time_updated=self.db.from_time(row["time_updated"]),
        )

    def _person(self, row: dict[str, Any]) -> Person:
        return Person(
            person_id=row["person_id"],
            collection_id=row["collection_id"],
            meta_data=self.db.from_json(row["meta_data"]),
            time_created=self.db.from_time(row["time_created"]),
            time_updated=self.db.from_time(row["time_updated"]),
        )

    def _image(self, row: dict[str, Any]) -> PersonImage:
        return PersonImage(
            person_image_id=row["person_image_id"],
            person_id=row["person_id"],
            collection_id=row["collection_id"],
            file=FileRef(row["sha256"], row["extension"]),
            mime_type=row["mime_type"],
            size_bytes=int(row["size_bytes"]),
            width=row["width"],
            height=row["height"],
            original_name=row["original_name"],
            tags=list(self.db.from_json(row["tags"])),
            embedding_space=row["embedding_space"],
            embedding_model=row["embedding_model"],
            time_created=self.db.from_time(row["time_created"]),
        )
