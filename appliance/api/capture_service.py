"""The capture session's recording (docs/capture.md): stored into the session's folder with its
analyses (QUALITY with the session's challenge and what the page saw of the camera), in one
transaction with the session's use, a compare-and-set: of two uploads with one token one wins.
Opening sessions and reading verdicts are the core's (`appliance/core/capture.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from appliance.api import folder_service
from appliance.api.schemas import AnalysisIn, FolderPayload
from appliance.core.capture import QUALITY, refuse_unless_open, schedule_of, session_for
from appliance.core.services import AppServices
from appliance.domain.capture import CaptureState, capture_flags, challenge_param, decisive_flags, timing_summary
from appliance.domain.entities import Media
from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.uploads import ParsedUpload

__all__ = ["record"]

#: A recording may be this much shorter than the schedule (a browser stops recording a little early).
SHORTER_BY_S = 1.0
#: The fields of the page's report kept with the session (the rest is dropped).
_REPORTED = ("camera_label", "settings", "user_agent", "prompts_shown_ms")


def _now() -> datetime:
    return datetime.now(UTC)


def _invalid(message: str) -> AppError:
    return AppError(ErrorCode.CAPTURE_RECORDING_INVALID, message)


def record(services: AppServices, token: str, upload: ParsedUpload) -> dict[str, Any]:
    """Store the session's recording and start its analyses (QUALITY with the session's challenge and
    what the page saw of the camera). Refused without writing anything when the session is not open,
    the upload is not one video of about the session's length, or the report is malformed."""
    session = session_for(services, token)
    refuse_unless_open(session, _now())
    if len(upload.files) != 1:
        raise _invalid(f"a capture's upload is one video, not {len(upload.files)} files")
    report = upload.payload.get("report", {})
    if not isinstance(report, dict):
        raise _invalid("the report of the camera must be a JSON object")
    folder = services.store.get_folder(session.folder_id)
    user = services.store.get_user(session.user_id)
    if folder is None or user is None:
        raise AppError(ErrorCode.CAPTURE_SESSION_UNKNOWN, "the capture session's folder or user no longer exists")
    settings = services.settings.capture
    observed = capture_flags(report)
    flags = [flag.value for flag in observed]
    decisive = [flag.value for flag in decisive_flags(observed, allow_fake_devices=settings.allow_fake_devices)]
    kept = {key: report[key] for key in _REPORTED if key in report}
    recorded = {**kept, "timing": timing_summary(report), "flags": flags, "decisive_flags": decisive}
    quality_params = {
        "challenge": challenge_param(session.steps, schedule_of(session)),
        "capture": {"flags": decisive, "flag_action": settings.flag_action, "camera_label": kept.get("camera_label")},
    }
    requests = [AnalysisIn(type=t, params=quality_params if t == QUALITY else {}) for t in session.analyses]
    key = upload.files[0].key
    length = schedule_of(session).length_s(len(session.steps))

    def use_session(media: list[Media]) -> None:
        (recording,) = media
        if recording.kind is not MediaKind.VIDEO:
            raise _invalid(f"a capture's upload must be a video, not {recording.kind.value.lower()}")
        if recording.duration_seconds is not None and recording.duration_seconds < length - SHORTER_BY_S:
            raise _invalid(
                f"the recording lasts {recording.duration_seconds:.1f} s; the session's prompts take {length} s"
            )
        if not services.store.use_capture_session(session.session_id, _now(), recording.media_id, recorded):
            refuse_unless_open(session_for(services, token), _now())  # another upload won, or it expired
            raise AppError(ErrorCode.CONFLICT, "the capture session changed meanwhile")

    payload = FolderPayload(media_tags={key: ["video_selfie"]})
    try:
        media, analyses = folder_service.add_media_with_analyses(
            services, user, folder, upload, payload, requests, with_rows=use_session
        )
    except AppError as exc:
        if exc.code is not ErrorCode.MEDIA_TAG_MISMATCH:
            raise
        # the tag is the appliance's own: what is wrong is the upload, which is no video
        kind = str((exc.details or {}).get("media_kind", "")).lower()
        raise _invalid(f"a capture's upload must be a video, not {kind}") from exc
    return {
        "session_id": session.session_id,
        "state": CaptureState.USED.value,
        "media_id": media[0].media_id,
        "analyses": [a.analysis_id for a in analyses],
        "flags": flags,
    }
