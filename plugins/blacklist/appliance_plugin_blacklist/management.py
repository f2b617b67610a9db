"""What the collections API (routes.py) and the console pages (console_pages.py) do to collections,
under the same rules.

Who may do what (docs/collections.md): everyone of the collection's company (and ADMIN and
OPERATOR) reads; ADMIN and the company's admin create, change and delete. A collection of a
company the caller may not see is NOT_EXIST, as anything missing is. Deleting removes the rows,
then the files no row names any more, then the search files that may still hold what was deleted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from appliance.sdk import PluginServices
from appliance.sdk.web import (
    AppError,
    ErrorCode,
    UploadedFile,
    User,
    can_administer_company_data,
    can_read_company,
    found,
)
from appliance_plugin_blacklist.enrolment import enrolled_photos, remove_unused_files
from appliance_plugin_blacklist.index import GalleryFiles
from appliance_plugin_blacklist.repository import (
    AliasTaken,
    Collection,
    CollectionRepository,
    CompanyNotFound,
    Person,
    PersonImage,
)
from appliance_plugin_blacklist.search import index_root

__all__ = [
    "MAX_ALIAS_LENGTH",
    "create_collection",
    "delete_collection",
    "delete_image",
    "delete_person",
    "enrol_person",
    "manageable",
    "person_of",
    "readable",
    "repository",
]

MAX_ALIAS_LENGTH = 255


def repository(plugin: PluginServices) -> CollectionRepository:
    return CollectionRepository(plugin.db)


def readable(plugin: PluginServices, user: User, collection_id: str) -> Collection:
    """The collection, if `user` may read it; NOT_EXIST otherwise."""
    collection = repository(plugin).get_collection(collection_id)
    return found(collection, lambda c: can_read_company(user, c.company_id), "collection")


def manageable(plugin: PluginServices, user: User, collection_id: str) -> Collection:
    """The collection, if `user` may change it; NOT_EXIST when they may not see it, AUTH_FORBIDDEN
    when they see it but may not change it."""
    collection = readable(plugin, user, collection_id)
    if not can_administer_company_data(user, collection.company_id):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "only an ADMIN or the company's admin may change its collections")
    return collection


def person_of(plugin: PluginServices, collection: Collection, person_id: str) -> Person:
    return found(repository(plugin).get_person(collection.collection_id, person_id), lambda _: True, "person")


def create_collection(
    plugin: PluginServices, user: User, alias: str, company_id: str | None, meta_data: dict[str, Any]
) -> Collection:
    """A new collection of `company_id` (of the user's own company when None)."""
    alias = alias.strip()
    if not alias or len(alias) > MAX_ALIAS_LENGTH:
        raise AppError(ErrorCode.INVALID_VALUE, f"alias must be 1 to {MAX_ALIAS_LENGTH} characters")
    company_id = company_id or user.company_id
    if company_id is None:
        raise AppError(ErrorCode.INVALID_VALUE, "company_id is required: a collection belongs to a company")
    if not can_read_company(user, company_id):
        raise AppError(ErrorCode.NOT_EXIST, "company not found")
    if not can_administer_company_data(user, company_id):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "only an ADMIN or the company's admin may create collections")
    try:
        return repository(plugin).create_collection(company_id, alias, meta_data)
    except AliasTaken:
        raise AppError(ErrorCode.CONFLICT, f"the company already has a collection named {alias!r}") from None
    except CompanyNotFound:
        raise AppError(ErrorCode.NOT_EXIST, "company not found") from None


def enrol_person(
    plugin: PluginServices,
    collection: Collection,
    files: Sequence[UploadedFile],
    tags: Mapping[str, list[str]],
    meta_data: dict[str, Any],
) -> Person:
    """A new person of the collection with the photos `files`: all or nothing (enrolment.py)."""
    rows = repository(plugin)
    with enrolled_photos(plugin, rows, files, tags) as images:
        return rows.create_person(collection.collection_id, meta_data, images)


def delete_collection(plugin: PluginServices, collection: Collection) -> None:
    rows = repository(plugin)
    remove_unused_files(plugin, rows, rows.delete_collection(collection.collection_id))
    _forget_deleted(plugin, collection.collection_id)


def delete_person(plugin: PluginServices, collection: Collection, person: Person) -> None:
    rows = repository(plugin)
    remove_unused_files(plugin, rows, rows.delete_person(collection.collection_id, person.person_id))
    _forget_deleted(plugin, collection.collection_id)


def delete_image(plugin: PluginServices, collection: Collection, image: PersonImage) -> None:
    rows = repository(plugin)
    rows.delete_image(image)
    remove_unused_files(plugin, rows, [image.file])
    _forget_deleted(plugin, collection.collection_id)


def _forget_deleted(plugin: PluginServices, collection_id: str) -> None:
    """Remove the search files that may still hold what was deleted (index.py, `prune`)."""
    GalleryFiles(index_root(plugin.data_dir)).prune(collection_id, repository(plugin).version(collection_id))
