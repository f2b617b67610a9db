"""The vocabularies of the Oz API shape: roles, states, resolutions and media kinds."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["WIRE_MEDIA_TYPE", "AnalysisState", "DeliveryStatus", "FolderStatus", "MediaKind", "Resolution", "Role"]


class Role(StrEnum):
    """`user_type` of a user. A CLIENT may also be a company admin (`is_admin`) or a service account."""

    ADMIN = "ADMIN"
    OPERATOR = "OPERATOR"
    CLIENT = "CLIENT"
    CLIENT_OPERATOR = "CLIENT_OPERATOR"


class AnalysisState(StrEnum):
    """`state` of an analysis: it starts PROCESSING and ends FINISHED or FAILED."""

    PROCESSING = "PROCESSING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class Resolution(StrEnum):
    """`resolution_status` of an analysis and `system_resolution` of a folder."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    SUCCESS = "SUCCESS"
    DECLINED = "DECLINED"
    OPERATOR_REQUIRED = "OPERATOR_REQUIRED"


class FolderStatus(StrEnum):
    """`resolution_status` of a folder: where its analyses are, not what they decided."""

    INITIAL = "INITIAL"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"
    FINISHED = "FINISHED"


class DeliveryStatus(StrEnum):
    """`status` of a webhook delivery: PENDING until a POST succeeds (DELIVERED) or the last attempt
    fails (FAILED: given up)."""

    PENDING = "PENDING"
    DELIVERED = "DELIVERED"
    FAILED = "FAILED"


class MediaKind(StrEnum):
    """What a stored media file is, sniffed from its content. A ZIP of frames counts as a video."""

    IMAGE = "IMAGE"
    VIDEO = "VIDEO"
    SHOTS_SET = "SHOTS_SET"


#: `media_type` as the Oz API writes it in responses.
WIRE_MEDIA_TYPE: dict[MediaKind, str] = {
    MediaKind.IMAGE: "IMAGE_FOLDER",
    MediaKind.VIDEO: "VIDEO_FOLDER",
    MediaKind.SHOTS_SET: "SHOTS_SET",
}
