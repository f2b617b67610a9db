"""Person images: each uploaded photo checked like any media, its one face found and embedded.

All or nothing: a request whose photos are all usable enrols them all; one refused photo (not a
photo, no face, several faces) refuses the request, and the files it stored are removed again.
The face pipeline runs in the API process here, as in the instant mode: the caller learns at
once whether a photo can be searched for.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from appliance.sdk import FaceReason, MediaKind, PluginServices, StoredFile
from appliance.sdk.web import AppError, ErrorCode, UploadedFile
from appliance_plugin_blacklist.repository import CollectionRepository, FileRef, NewImage

__all__ = ["enrolled_photos", "remove_unused_files"]


def remove_unused_files(plugin: PluginServices, repository: CollectionRepository, files: Sequence[FileRef]) -> None:
    """Delete the stored files that no person image names any more."""
    for file in files:
        if not repository.file_is_used(file):
            plugin.files.delete(file.sha256, file.extension)


@contextmanager
def enrolled_photos(
    plugin: PluginServices,
    repository: CollectionRepository,
    files: Sequence[UploadedFile],
    tags: Mapping[str, list[str]],
) -> Iterator[list[NewImage]]:
    """The uploaded photos as images to enrol, for the caller to write inside the block. When
    anything fails, in here or in the block, the files this request stored and no row names are
    removed, and the error goes on."""
    if not files:
        raise AppError(ErrorCode.PAYLOAD_INVALID, "send at least one photo of the person")
    stored: list[StoredFile] = []
    try:
        images = []
        for upload in files:
            item = _ingest(plugin, upload)
            stored.append(item)
            images.append(_embed(plugin, upload, item, tags.get(upload.key, [])))
        yield images
    except BaseException:
        created = [FileRef(s.sha256, s.extension) for s in stored if s.created]
        remove_unused_files(plugin, repository, created)
        raise


def _ingest(plugin: PluginServices, upload: UploadedFile) -> StoredFile:
    try:
        item = plugin.files.ingest(upload.file, upload.filename)
    except AppError as exc:
        raise AppError(
            exc.code, f"{upload.key}: {exc.message}", {**(exc.details or {}), "media_key": upload.key}
        ) from exc
    if item.probe.kind is not MediaKind.IMAGE:
        if item.created:
            plugin.files.delete(item.sha256, item.extension)
        raise AppError(
            ErrorCode.MEDIA_UNSUPPORTED_TYPE,
            f"{upload.key}: a person image must be a photo, not a {item.probe.kind.value.lower()}",
            {"media_key": upload.key},
        )
    return item


def _embed(plugin: PluginServices, upload: UploadedFile, item: StoredFile, tags: list[str]) -> NewImage:
    track = plugin.faces(plugin.files.media_input(item, media_id=str(uuid.uuid4())))
    reasons = [r.value for r in track.reasons]
    details = {"media_key": upload.key, "reasons": reasons}
    if FaceReason.MULTIPLE_FACES in track.reasons:
        raise AppError(ErrorCode.FACE_MULTIPLE, f"{upload.key}: the photo shows several faces", details)
    if not track.comparable or track.embedding is None:
        raise AppError(ErrorCode.FACE_NOT_FOUND, f"{upload.key}: no face big enough to search for", details)
    return NewImage(
        file=FileRef(item.sha256, item.extension),
        mime_type=item.probe.mime_type,
        size_bytes=item.size_bytes,
        width=item.probe.width,
        height=item.probe.height,
        original_name=upload.filename[:255],
        tags=list(dict.fromkeys(tags)),
        embedding=track.embedding.vector,
        embedding_space=track.embedding.space,
        embedding_model=track.embedding.model,
    )
