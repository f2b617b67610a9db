"""The JSON documents the appliance hands out: folders, media and analyses in the Oz shape.

One renderer for the API's responses and the webhook bodies, so that a webhook carries exactly
what `GET /api/folders/{id}?with_analyses=true` returns. Media links are signed, expiring URLs
(`UrlSigner`): a browser can follow them, nobody can guess them, and they stop working. The
instant mode, which keeps nothing to link to, answers with the `instant_*` documents: the same
fields where a stored folder has them, and output images inline.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import urlencode

from appliance.domain.decisions import OperatorDecision
from appliance.domain.entities import Analysis, Company, Folder, Media, User
from appliance.domain.enums import WIRE_MEDIA_TYPE, MediaKind

__all__ = [
    "UrlSigner",
    "analysis_to_wire",
    "company_to_wire",
    "decision_to_wire",
    "folder_to_wire",
    "instant_folder_to_wire",
    "iso",
    "media_to_wire",
    "user_to_wire",
]


class MediaFacts(Protocol):
    """What the instant mode knows of an upload it probed (an `appliance.sdk.MediaInput`)."""

    @property
    def media_id(self) -> str: ...
    @property
    def kind(self) -> MediaKind: ...
    @property
    def original_name(self) -> str: ...
    @property
    def tags(self) -> Sequence[str]: ...
    @property
    def mime_type(self) -> str: ...
    @property
    def width(self) -> int | None: ...
    @property
    def height(self) -> int | None: ...
    @property
    def frame_count(self) -> int | None: ...
    @property
    def duration_seconds(self) -> float | None: ...


def iso(value: datetime | None) -> str | None:
    """UTC time in ISO 8601, as every document writes it."""
    return value.isoformat() if value else None


class UrlSigner:
    """Signs and checks media URLs: `<path>?expires=<unix>&signature=<hmac>` over path and expiry."""

    def __init__(self, secret: str, base_url: str, ttl_seconds: int) -> None:
        if not secret:
            raise ValueError("a secret_key is needed to sign media URLs (appliance init writes one)")
        self._key = secret.encode()
        self.base_url = base_url.rstrip("/")
        self.ttl_seconds = ttl_seconds

    def _signature(self, path: str, expires: int) -> str:
        return hmac.new(self._key, f"{path}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def sign(self, path: str, now: float | None = None) -> str:
        expires = int((now if now is not None else time.time()) + self.ttl_seconds)
        query = urlencode({"expires": expires, "signature": self._signature(path, expires)})
        return f"{self.base_url}{path}?{query}"

    def verify(self, path: str, expires: str | int, signature: str, now: float | None = None) -> bool:
        try:
            expires_at = int(expires)
        except (TypeError, ValueError):
            return False
        if expires_at < (now if now is not None else time.time()):
            return False
        return hmac.compare_digest(self._signature(path, expires_at), signature)

    # The paths the API serves (appliance.api.controllers.media_files).
    def media_file(self, media_id: str) -> str:
        return self.sign(f"/api/media/{media_id}/file")

    def media_thumbnail(self, media_id: str) -> str:
        return self.sign(f"/api/media/{media_id}/thumbnail")

    def media_preview(self, media_id: str) -> str:
        return self.sign(f"/api/media/{media_id}/preview")

    def output_image(self, analysis_id: str, media_id: str, name: str) -> str:
        return self.sign(f"/api/analyses/{analysis_id}/images/{media_id}/{name}")


def media_to_wire(media: Media, urls: UrlSigner) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "media_id": media.media_id,
        "folder_id": media.folder_id,
        "media_type": WIRE_MEDIA_TYPE[media.kind],
        "original_name": media.original_name,
        "tags": list(media.tags),
        "mime_type": media.mime_type,
        "size_bytes": media.size_bytes,
        "width": media.width,
        "height": media.height,
        "frame_count": media.frame_count,
        "duration_seconds": media.duration_seconds,
        "original_url": urls.media_file(media.media_id),
        "thumb_url": urls.media_thumbnail(media.media_id) if media.has_thumbnail else None,
        "preview_url": urls.media_preview(media.media_id) if media.has_preview else None,
        "meta_data": media.meta_data,
        "time_created": iso(media.time_created),
        "time_updated": iso(media.time_updated),
    }
    if media.kind is not MediaKind.IMAGE:
        doc["video_url"] = doc["original_url"]
    return doc


def _results_media_to_wire(analysis: Analysis, urls: UrlSigner) -> list[dict[str, Any]]:
    items = []
    for item in analysis.results_media:
        media_id = item["source_media_id"]
        images = [
            {"name": image["name"], "original_url": urls.output_image(analysis.analysis_id, media_id, image["name"])}
            for image in item.get("output_images", [])
        ]
        items.append({**item, "output_images": images})
    return items


def analysis_to_wire(analysis: Analysis, media_by_id: dict[str, Media], urls: UrlSigner) -> dict[str, Any]:
    source = [media_to_wire(media_by_id[m], urls) for m in analysis.source_media if m in media_by_id]
    return {
        "analyse_id": analysis.analysis_id,
        "analysis_id": analysis.analysis_id,
        "folder_id": analysis.folder_id,
        "type": analysis.type,
        "state": analysis.state.value,
        "resolution_status": analysis.resolution_status.value,
        "resolution": analysis.resolution_status.value,
        "params": analysis.params,
        "source_media": source,
        "results_data": analysis.results_data,
        "results_media": _results_media_to_wire(analysis, urls),
        "error_code": analysis.error_code,
        "error_message": analysis.error_message,
        "attempts": analysis.attempt,
        "plugin": analysis.plugin,
        "plugin_version": analysis.plugin_version,
        "model_versions": analysis.model_versions,
        "meta_data": analysis.meta_data,
        "time_created": iso(analysis.time_created),
        "time_updated": iso(analysis.time_updated),
        "time_started": iso(analysis.time_started),
        "time_finished": iso(analysis.time_finished),
    }


def folder_to_wire(
    folder: Folder,
    media: Sequence[Media],
    analyses: Iterable[Analysis] | None,
    urls: UrlSigner,
) -> dict[str, Any]:
    """A folder with its media, and with its analyses when `analyses` is not None."""
    doc: dict[str, Any] = {
        "folder_id": folder.folder_id,
        "company_id": folder.company_id,
        "user_id": folder.user_id,
        "resolution_status": folder.resolution_status.value,
        "system_resolution": folder.system_resolution.value,
        "resolution_endpoint": folder.resolution_endpoint,
        "meta_data": folder.meta_data,
        "technical_meta_data": folder.technical_meta_data,
        "time_created": iso(folder.time_created),
        "time_updated": iso(folder.time_updated),
        "media": [media_to_wire(m, urls) for m in media],
    }
    if analyses is not None:
        media_by_id = {m.media_id: m for m in media}
        doc["analyses"] = [analysis_to_wire(a, media_by_id, urls) for a in analyses]
    return doc


def user_to_wire(user: User) -> dict[str, Any]:
    return {
        "user_id": user.user_id,
        "email": user.email,
        "user_type": user.user_type.value,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "middle_name": user.middle_name,
        "company_id": user.company_id,
        "is_admin": user.is_admin,
        "is_service": user.is_service,
        "is_active": user.is_active,
        "can_start_analysis_quality": user.can_start_analysis_quality,
        "can_start_analysis_biometry": user.can_start_analysis_biometry,
        "can_start_analysis_collection": user.can_start_analysis_collection,
        "can_start_analysis_documents": user.can_start_analysis_documents,
        "meta_data": user.meta_data,
        "time_created": iso(user.time_created),
        "time_updated": iso(user.time_updated),
    }


def company_to_wire(company: Company, *, with_secret: bool = False) -> dict[str, Any]:
    """A company; its webhook secret only for those who may configure webhooks."""
    doc: dict[str, Any] = {
        "company_id": company.company_id,
        "name": company.name,
        "webhook_url": company.webhook_url,
        "meta_data": company.meta_data,
        "time_created": iso(company.time_created),
        "time_updated": iso(company.time_updated),
    }
    if with_secret:
        doc["webhook_secret"] = company.webhook_secret
    return doc


def decision_to_wire(decision: OperatorDecision) -> dict[str, Any]:
    """A row of a folder's audit trail of operator decisions."""
    return {
        "decision_id": decision.decision_id,
        "folder_id": decision.folder_id,
        "analysis_id": decision.analysis_id,
        "company_id": decision.company_id,
        "user_id": decision.user_id,
        "user_email": decision.user_email,
        "old_resolution": decision.old_resolution.value,
        "new_resolution": decision.new_resolution.value,
        "comment": decision.comment,
        "time_created": iso(decision.time_created),
    }


def _instant_media_to_wire(media: MediaFacts) -> dict[str, Any]:
    return {
        "media_id": media.media_id,
        "media_type": WIRE_MEDIA_TYPE[media.kind],
        "original_name": media.original_name,
        "tags": list(media.tags),
        "mime_type": media.mime_type,
        "width": media.width,
        "height": media.height,
        "frame_count": media.frame_count,
        "duration_seconds": media.duration_seconds,
    }


def _instant_analysis_to_wire(analysis: Analysis, images: Mapping[tuple[str, str], bytes]) -> dict[str, Any]:
    results_media = [
        {
            "source_media_id": item["source_media_id"],
            "results_data": item["results_data"],
            "output_images": [
                {
                    "name": image["name"],
                    "data_base64": base64.b64encode(images[(item["source_media_id"], image["name"])]).decode(),
                    "media_type": "image/jpeg",
                }
                for image in item["output_images"]
            ],
        }
        for item in analysis.results_media
    ]
    return {
        "analyse_id": analysis.analysis_id,
        "analysis_id": analysis.analysis_id,
        "type": analysis.type,
        "state": analysis.state.value,
        "resolution_status": analysis.resolution_status.value,
        "resolution": analysis.resolution_status.value,
        "params": analysis.params,
        "source_media": analysis.source_media,
        "results_data": analysis.results_data,
        "results_media": results_media,
        "error_code": analysis.error_code,
        "error_message": analysis.error_message,
        "plugin": analysis.plugin,
        "plugin_version": analysis.plugin_version,
        "model_versions": analysis.model_versions,
    }


def instant_folder_to_wire(
    folder: Folder,
    media: Sequence[MediaFacts],
    analyses: Sequence[Analysis],
    images: Mapping[tuple[str, str], bytes],
) -> dict[str, Any]:
    """The answer of the instant mode: a folder that was never stored, its media as probed, and its
    analyses, whose output images come inline (base64) from `images`, by (media id, image name)."""
    return {
        "folder_id": folder.folder_id,
        "resolution_status": folder.resolution_status.value,
        "system_resolution": folder.system_resolution.value,
        "meta_data": folder.meta_data,
        "time_created": iso(folder.time_created),
        "media": [_instant_media_to_wire(m) for m in media],
        "analyses": [_instant_analysis_to_wire(a, images) for a in analyses],
    }
