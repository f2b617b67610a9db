"""Errors with stable codes.

Every error the appliance reports to a caller carries one of these codes. Codes 0-11 are the
Oz API's own; 100 and up are this appliance's finer codes. A code, once published, keeps its
number and meaning: docs/errors.md lists them all (a test keeps the two in step). The API maps
codes to HTTP statuses at its edge; the CLI prints the message and exits non-zero.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

__all__ = ["AppError", "ErrorCode"]


class ErrorCode(IntEnum):
    # Oz API codes
    UNKNOWN = 0
    NOT_ALLOWED = 1
    NOT_REALIZED = 2
    INVALID_STRUCTURE = 3
    INVALID_VALUE = 4
    INVALID_TYPE = 5
    AUTH_NOT_PROVIDED = 6
    AUTH_INVALID = 7
    AUTH_EXPIRED = 8
    AUTH_FORBIDDEN = 9
    NOT_EXIST = 10
    EXTERNAL_SERVICE = 11
    # Appliance codes: requests and accounts
    PAYLOAD_INVALID = 100
    UNKNOWN_TAG = 101
    CONFLICT = 102
    AUTH_LOCKED = 103  # retired: no longer answered (a throttled login is LOGIN_THROTTLED)
    TOO_MANY_FILES = 104
    NO_SOURCE_MEDIA = 105
    UNKNOWN_MEDIA_KEY = 106
    SERVICE_UNAVAILABLE = 107
    ANALYSIS_TYPE_UNKNOWN = 108
    # Appliance codes: media files
    MEDIA_UNSUPPORTED_TYPE = 110
    MEDIA_CORRUPT = 111
    MEDIA_TOO_LARGE = 112
    MEDIA_TOO_MANY_PIXELS = 113
    MEDIA_TOO_LONG = 114
    MEDIA_EMPTY = 115
    ARCHIVE_UNSAFE_ENTRY = 116
    ARCHIVE_TOO_MANY_ENTRIES = 117
    ARCHIVE_TOO_LARGE = 118
    # Appliance codes: where outbound webhooks may go, and media content against its tags
    WEBHOOK_TARGET_REFUSED = 155
    MEDIA_TAG_MISMATCH = 156
    # Appliance codes: why an analysis FAILED (recorded on the analysis, not an HTTP answer)
    ANALYSIS_NO_PLUGIN = 120
    ANALYSIS_PLUGIN_ERROR = 121
    ANALYSIS_PROCESSING_EXPIRED = 122
    ANALYSIS_DELIVERY_EXPIRED = 123
    ANALYSIS_MEDIA_MISSING = 124
    # Appliance codes: the web console
    CSRF_FAILED = 130
    # Appliance codes: a photo enrolled as a reference face (a collection's person image)
    FACE_NOT_FOUND = 140
    FACE_MULTIPLE = 141
    # Appliance codes: request bodies the appliance will not read or store (docs/errors.md)
    JSON_TOO_DEEP = 150
    BODY_TOO_LARGE = 151
    TEXT_INVALID_CHARACTER = 152
    # Appliance codes: abuse (rate limits, admission control, login throttling)
    RATE_LIMITED = 153
    QUEUE_FULL = 154
    LOGIN_THROTTLED = 157
    # Appliance codes: the object storage behind the media (docs/object-storage.md)
    STORAGE_UNAVAILABLE = 158
    # Appliance codes: capture sessions (docs/capture.md)
    CAPTURE_SESSION_UNKNOWN = 160
    CAPTURE_SESSION_EXPIRED = 161
    CAPTURE_SESSION_USED = 162
    CAPTURE_RECORDING_INVALID = 163


class AppError(Exception):
    """An error a caller can act on: a stable code, a message for people, optional details."""

    def __init__(self, code: ErrorCode, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __repr__(self) -> str:
        return f"AppError({self.code.name}, {self.message!r})"
