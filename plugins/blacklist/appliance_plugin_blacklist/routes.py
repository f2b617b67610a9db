"""The collections API in the Oz shape: collections of a company, their persons, the persons' photos.

Who may do what (docs/collections.md, management.py): everyone of the collection's company (and
ADMIN and OPERATOR) reads; ADMIN and the company's admin create, change and delete. A collection
of a company the caller may not see answers 404, as anything missing does.
"""

from __future__ import annotations

from typing import Any

import anyio
import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import File

from appliance.sdk import PluginServices
from appliance.sdk.web import (
    MAX_PAGE,
    AppError,
    CurrentUser,
    ErrorCode,
    MetaData,
    MetaDataRoutes,
    ParsedUpload,
    PluginDependency,
    caller_or_signed_link,
    can_read_company,
    check_paging,
    found,
    page,
    read_upload,
    send_file,
)
from appliance_plugin_blacklist import management
from appliance_plugin_blacklist.documents import collection_document, image_document, person_document
from appliance_plugin_blacklist.enrolment import enrolled_photos
from appliance_plugin_blacklist.repository import Collection, Person

__all__ = ["CollectionController", "CollectionMetaDataController", "PersonController", "PersonMetaDataController"]


class CollectionIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alias: str
    #: Required of an ADMIN (who belongs to no company); a company's admin creates in their own.
    company_id: str | None = None
    meta_data: dict[str, Any] = {}


class PersonPayload(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The `payload` part of a person (or person images) upload."""

    media_tags: dict[str, list[str]] = msgspec.field(default_factory=dict, name="media:tags")
    person_meta_data: dict[str, Any] = msgspec.field(default_factory=dict, name="person:meta_data")


def _person_document(plugin: PluginServices, person: Person) -> dict[str, Any]:
    images = management.repository(plugin).images_of([person.person_id])[person.person_id]
    return person_document(person, images, plugin)


def _person_payload(upload: ParsedUpload) -> PersonPayload:
    try:
        payload = msgspec.convert(upload.payload, PersonPayload)
    except msgspec.ValidationError as exc:
        raise AppError(ErrorCode.PAYLOAD_INVALID, f"payload: {exc}") from exc
    stray = sorted(set(payload.media_tags) - {f.key for f in upload.files})
    if stray:
        raise AppError(
            ErrorCode.UNKNOWN_MEDIA_KEY,
            f"media:tags names files that were not uploaded: {', '.join(stray)}",
            {"media_keys": stray},
        )
    return payload


# Collections --------------------------------------------------------------------------------------


class CollectionController(Controller):
    path = "/api/collections"
    tags = ["collections"]

    @post("/", sync_to_thread=True, summary="Create a collection (watch list) of a company")
    def create_collection(
        self, user: CurrentUser, plugin: PluginDependency, data: JSONBody[CollectionIn]
    ) -> Response[dict[str, Any]]:
        collection = management.create_collection(plugin, user, data.alias, data.company_id, data.meta_data)
        return Response(collection_document(collection), status_code=201)

    @get("/", sync_to_thread=True, summary="List the collections the caller may see")
    def list_collections(
        self,
        user: CurrentUser,
        plugin: PluginDependency,
        offset: FromQuery[int] = 0,
        limit: FromQuery[int] = 100,
        company_id: FromQuery[str | None] = None,
    ) -> dict[str, Any]:
        check_paging(offset, limit)
        if company_id is not None and not can_read_company(user, company_id):
            return page([], 0, offset, limit)  # another company's: nothing, never the caller's own
        scope = company_id or user.company_id  # None for ADMIN and OPERATOR: every company's
        items, total = management.repository(plugin).list_collections(scope, offset, limit)
        return page([collection_document(c) for c in items], total, offset, limit)

    @get("/{collection_id:str}", sync_to_thread=True, summary="One collection")
    def get_collection(
        self, user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str]
    ) -> dict[str, Any]:
        return collection_document(management.readable(plugin, user, collection_id))

    @delete("/{collection_id:str}", sync_to_thread=True, summary="Delete a collection with its persons and photos")
    def delete_collection(self, user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str]) -> None:
        management.delete_collection(plugin, management.manageable(plugin, user, collection_id))


def _collection_meta(user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str]) -> MetaData[Collection]:
    def save(collection: Collection, meta: dict[str, Any]) -> dict[str, Any]:
        management.repository(plugin).set_collection_meta(collection.collection_id, meta)
        return meta

    return MetaData(
        readable=lambda: management.readable(plugin, user, collection_id),
        writable=lambda: management.manageable(plugin, user, collection_id),
        save=save,
    )


class CollectionMetaDataController(MetaDataRoutes):
    path = "/api/collections/{collection_id:str}/meta_data"
    tags = ["collections"]
    dependencies = {"meta_data": Provide(_collection_meta, sync_to_thread=True)}


# Persons and their photos -------------------------------------------------------------------------


class PersonController(Controller):
    path = "/api/collections/{collection_id:str}/persons"
    tags = ["collections"]

    @post("/", summary="Enrol a person with one or more photos (multipart: `payload` + photos)")
    async def create_person(
        self, request: Request, user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str]
    ) -> Response[dict[str, Any]]:
        collection = await anyio.to_thread.run_sync(
            management.manageable, plugin, user, collection_id
        )  # before reading the body
        upload = await read_upload(request, plugin)
        try:
            document = await anyio.to_thread.run_sync(self._create, plugin, collection, upload)
        finally:
            upload.close()
        return Response(document, status_code=201)

    @staticmethod
    def _create(plugin: PluginServices, collection: Collection, upload: ParsedUpload) -> dict[str, Any]:
        payload = _person_payload(upload)
        person = management.enrol_person(plugin, collection, upload.files, payload.media_tags, payload.person_meta_data)
        return _person_document(plugin, person)

    @get("/", sync_to_thread=True, summary="List the persons of a collection, with their photos")
    def list_persons(
        self,
        user: CurrentUser,
        plugin: PluginDependency,
        collection_id: FromPath[str],
        offset: FromQuery[int] = 0,
        limit: FromQuery[int] = 100,
    ) -> dict[str, Any]:
        check_paging(offset, limit)
        collection = management.readable(plugin, user, collection_id)
        rows = management.repository(plugin)
        persons, total = rows.list_persons(collection.collection_id, offset, limit)
        images = rows.images_of([p.person_id for p in persons])
        items = [person_document(p, images[p.person_id], plugin) for p in persons]
        return page(items, total, offset, limit)

    @get("/{person_id:str}", sync_to_thread=True, summary="One person with their photos (resolves a COLLECTION hit)")
    def get_person(
        self, user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str], person_id: FromPath[str]
    ) -> dict[str, Any]:
        person = management.person_of(plugin, management.readable(plugin, user, collection_id), person_id)
        return _person_document(plugin, person)

    @delete("/{person_id:str}", sync_to_thread=True, summary="Delete a person with their photos and embeddings")
    def delete_person(
        self, user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str], person_id: FromPath[str]
    ) -> None:
        collection = management.manageable(plugin, user, collection_id)
        management.delete_person(plugin, collection, management.person_of(plugin, collection, person_id))

    @post("/{person_id:str}/images", summary="Add photos to a person (multipart, as for a new person)")
    async def add_images(
        self,
        request: Request,
        user: CurrentUser,
        plugin: PluginDependency,
        collection_id: FromPath[str],
        person_id: FromPath[str],
    ) -> Response[list[dict[str, Any]]]:
        collection = await anyio.to_thread.run_sync(management.manageable, plugin, user, collection_id)
        person = await anyio.to_thread.run_sync(management.person_of, plugin, collection, person_id)
        upload = await read_upload(request, plugin)
        try:
            documents = await anyio.to_thread.run_sync(self._add, plugin, person, upload)
        finally:
            upload.close()
        return Response(documents, status_code=201)

    @staticmethod
    def _add(plugin: PluginServices, person: Person, upload: ParsedUpload) -> list[dict[str, Any]]:
        payload = _person_payload(upload)
        if payload.person_meta_data:
            raise AppError(ErrorCode.PAYLOAD_INVALID, "adding photos takes only media:tags")
        rows = management.repository(plugin)
        with enrolled_photos(plugin, rows, upload.files, payload.media_tags) as images:
            rows.add_images(person.collection_id, person.person_id, images)
        added = {image.person_image_id for image in images}
        current = rows.images_of([person.person_id])[person.person_id]
        return [image_document(image, plugin) for image in current if image.person_image_id in added]

    @get("/{person_id:str}/images", sync_to_thread=True, summary="The photos of a person")
    def list_images(
        self, user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str], person_id: FromPath[str]
    ) -> dict[str, Any]:
        person = management.person_of(plugin, management.readable(plugin, user, collection_id), person_id)
        images = management.repository(plugin).images_of([person.person_id])[person.person_id]
        return page([image_document(image, plugin) for image in images], len(images), 0, MAX_PAGE)

    @get(
        "/{person_id:str}/images/{person_image_id:str}/file",
        sync_to_thread=True,
        summary="A person's photo (signed URL or token)",
    )
    def image_file(
        self,
        request: Request,
        plugin: PluginDependency,
        collection_id: FromPath[str],
        person_id: FromPath[str],
        person_image_id: FromPath[str],
    ) -> File:
        user = caller_or_signed_link(request, plugin)  # credentials first: no lookups for strangers
        rows = management.repository(plugin)
        collection = found(
            rows.get_collection(collection_id),
            lambda c: user is None or can_read_company(user, c.company_id),
            "file",
        )
        image = found(
            rows.get_image(person_id, person_image_id),
            lambda i: i.collection_id == collection.collection_id,
            "file",
        )
        return send_file(plugin.files.path(image.file.sha256, image.file.extension), image.mime_type)

    @delete(
        "/{person_id:str}/images/{person_image_id:str}", sync_to_thread=True, summary="Delete one photo of a person"
    )
    def delete_image(
        self,
        user: CurrentUser,
        plugin: PluginDependency,
        collection_id: FromPath[str],
        person_id: FromPath[str],
        person_image_id: FromPath[str],
    ) -> None:
        collection = management.manageable(plugin, user, collection_id)
        image = found(
            management.repository(plugin).get_image(person_id, person_image_id),
            lambda i: i.collection_id == collection.collection_id,
            "photo",
        )
        management.delete_image(plugin, collection, image)


def _person_meta(
    user: CurrentUser, plugin: PluginDependency, collection_id: FromPath[str], person_id: FromPath[str]
) -> MetaData[Person]:
    def save(person: Person, meta: dict[str, Any]) -> dict[str, Any]:
        management.repository(plugin).set_person_meta(person.person_id, meta)
        return meta

    return MetaData(
        readable=lambda: management.person_of(plugin, management.readable(plugin, user, collection_id), person_id),
        writable=lambda: management.person_of(plugin, management.manageable(plugin, user, collection_id), person_id),
        save=save,
    )


class PersonMetaDataController(MetaDataRoutes):
    path = "/api/collections/{collection_id:str}/persons/{person_id:str}/meta_data"
    tags = ["collections"]
    dependencies = {"meta_data": Provide(_person_meta, sync_to_thread=True)}
