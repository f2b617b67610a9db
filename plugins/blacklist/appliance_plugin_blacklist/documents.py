"""The JSON documents of the collections API (Oz shape): collection, person, person image."""

from __future__ import annotations

from typing import Any

from appliance.sdk import PluginServices
from appliance_plugin_blacklist.repository import Collection, Person, PersonImage

__all__ = ["collection_document", "image_document", "image_file_path", "person_document"]


def image_file_path(image: PersonImage) -> str:
    """The API path that serves the image's file."""
    return f"/api/collections/{image.collection_id}/persons/{image.person_id}/images/{image.person_image_id}/file"


def collection_document(collection: Collection) -> dict[str, Any]:
    return {
        "collection_id": collection.collection_id,
        "alias": collection.alias,
        "company_id": collection.company_id,
        "meta_data": collection.meta_data,
        "time_created": collection.time_created.isoformat(),
        "time_updated": collection.time_updated.isoformat(),
    }


def image_document(image: PersonImage, plugin: PluginServices) -> dict[str, Any]:
    return {
        "person_image_id": image.person_image_id,
        "person_id": image.person_id,
        "collection_id": image.collection_id,
        "media_type": "IMAGE_FOLDER",
        "original_name": image.original_name,
        "original_url": plugin.signed_url(image_file_path(image)),
        "mime_type": image.mime_type,
        "size_bytes": image.size_bytes,
        "width": image.width,
        "height": image.height,
        "tags": image.tags,
        "embedding_space": image.embedding_space,
        "embedding_model": image.embedding_model,
        "time_created": image.time_created.isoformat(),
    }


def person_document(person: Person, images: list[PersonImage], plugin: PluginServices) -> dict[str, Any]:
    return {
        "person_id": person.person_id,
        "collection_id": person.collection_id,
        "meta_data": person.meta_data,
        "images": [image_document(image, plugin) for image in images],
        "time_created": person.time_created.isoformat(),
        "time_updated": person.time_updated.isoformat(),
    }
