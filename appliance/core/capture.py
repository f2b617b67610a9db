"""Capture sessions: opened by a user for a folder (the API, the console's Capture action), used once
by the capture page (docs/capture.md). The recording itself is stored by the API
(`appliance/api/capture_service.py`).

    session, token = open_session(services, user, folder_id, ["QUALITY"])  # POST /api/folders/{id}/capture_sessions
    page_document(session_for(services, token), now)                        # GET  /capture/{token}/session
    verdict(services, token)                                                # GET  /capture/{token}/verdict

The token is the capability the capture page runs on: whoever holds its address may record once,
until it expires, into that folder, and read the verdict (never the folder's other data). Only
its sha256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from appliance.core.decisions import readable_folder
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.capture import (
    CAPTURE_GESTURES,
    PROMPTS,
    CaptureSchedule,
    CaptureSession,
    CaptureState,
    draw_steps,
)
from appliance.domain.entities import Analysis, User
from appliance.domain.enums import AnalysisState
from appliance.domain.errors import AppError, ErrorCode

__all__ = [
    "QUALITY",
    "open_session",
    "page_document",
    "refuse_unless_open",
    "schedule_of",
    "session_document",
    "session_for",
    "verdict",
]

QUALITY = "QUALITY"


def _now() -> datetime:
    return datetime.now(UTC)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def schedule_of(session: CaptureSession) -> CaptureSchedule:
    return CaptureSchedule(**session.schedule)


def open_session(
    services: AppServices, user: User, folder_id: str, analyses: list[str] | None = None
) -> tuple[CaptureSession, str]:
    """A new session for the folder (the caller must be allowed to add media to it) and its token.
    `analyses`: the (upper-case) analysis types to run on the recording; QUALITY always."""
    settings = services.settings.capture
    if not settings.enabled:
        raise AppError(ErrorCode.NOT_ALLOWED, "capture sessions are turned off on this appliance (capture.enabled)")
    folder = readable_folder(services, user, folder_id)
    if not policy.can_write_folder(user, folder):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not add media to this folder")
    types = list(analyses or [QUALITY])
    if QUALITY not in types:
        types.insert(0, QUALITY)  # the challenge is checked by QUALITY
    unknown = [t for t in types if services.plugins.registry.get(t) is None]
    if unknown:
        raise AppError(
            ErrorCode.ANALYSIS_TYPE_UNKNOWN,
            f"no installed plugin provides {', '.join(unknown)}",
            {"analysis_type": unknown[0], "installed": services.plugins.registry.types()},
        )
    if settings.fixed_gestures:
        steps = list(settings.fixed_gestures)
        if not set(steps) <= set(CAPTURE_GESTURES):
            raise AppError(
                ErrorCode.INVALID_VALUE, f"capture.fixed_gestures must be among {', '.join(CAPTURE_GESTURES)}"
            )
    else:
        steps = draw_steps(secrets.SystemRandom(), settings.fewest_gestures, settings.most_gestures)
    schedule = CaptureSchedule(settings.lead_in_seconds, settings.prompt_seconds, settings.pause_seconds)
    token = secrets.token_urlsafe(32)
    now = _now()
    session = CaptureSession(
        session_id=str(uuid.uuid4()),
        token_hash=_token_hash(token),
        folder_id=folder.folder_id,
        company_id=folder.company_id,
        user_id=user.user_id,
        steps=steps,
        schedule=schedule.to_dict(),
        analyses=types,
        expires_at=now + timedelta(seconds=settings.session_seconds),
        time_created=now,
    )
    return services.store.create_capture_session(session), token


def _steps(session: CaptureSession) -> list[dict[str, Any]]:
    times = schedule_of(session).prompt_times(len(session.steps))
    return [
        {"gesture": tag, "prompt": PROMPTS[tag], "start_s": start, "end_s": end}
        for tag, (start, end) in zip(session.steps, times, strict=True)
    ]


def page_document(session: CaptureSession, now: datetime) -> dict[str, Any]:
    """What the capture page needs: the prompts and when to show them, how long to record, the state."""
    return {
        "state": session.state(now).value,
        "expires_at": session.expires_at.isoformat().replace("+00:00", "Z"),
        "steps": _steps(session),
        "recording_s": schedule_of(session).length_s(len(session.steps)),
        "lead_in_s": schedule_of(session).lead_in_s,
    }


def session_document(session: CaptureSession, token: str, now: datetime) -> dict[str, Any]:
    """The API's answer on opening a session: the page's document, the session and the capture address."""
    return {
        "session_id": session.session_id,
        "folder_id": session.folder_id,
        "analyses": session.analyses,
        "capture_url": f"/capture/{token}",
        **page_document(session, now),
    }


def session_for(services: AppServices, token: str) -> CaptureSession:
    """The session of `token`, whatever its state; CAPTURE_SESSION_UNKNOWN when there is none."""
    session = services.store.get_capture_session(_token_hash(token))
    if session is None:
        raise AppError(ErrorCode.CAPTURE_SESSION_UNKNOWN, "no capture session has this address")
    return session


def refuse_unless_open(session: CaptureSession, now: datetime) -> None:
    state = session.state(now)
    if state is CaptureState.USED:
        raise AppError(ErrorCode.CAPTURE_SESSION_USED, "this capture session already took its recording")
    if state is CaptureState.EXPIRED:
        raise AppError(ErrorCode.CAPTURE_SESSION_EXPIRED, "this capture session expired: open a new one")


def _challenge_of(analysis: Analysis) -> dict[str, Any] | None:
    for item in analysis.results_media or []:
        found = (item.get("results_data") or {}).get("challenge")
        if isinstance(found, dict):
            return found
    return None


def verdict(services: AppServices, token: str) -> dict[str, Any]:
    """The recording's verdict for the capture page: QUALITY's result, the step that failed and why a
    person must look; nothing else of the folder."""
    session = session_for(services, token)
    state = session.state(_now())
    if state is not CaptureState.USED:
        return {"state": state.value}
    mine = [a for a in services.store.list_analyses(session.folder_id) if session.media_id in a.source_media]
    quality = next((a for a in mine if a.type == QUALITY), None)
    if quality is None or quality.state is AnalysisState.PROCESSING:
        return {"state": "processing"}
    challenge = _challenge_of(quality) or {}
    reasons = (quality.results_data or {}).get("operator_reasons", [])
    return {
        "state": "finished",
        "resolution": quality.resolution_status.value,
        "failed_step": challenge.get("failed_step"),
        "failed_gesture": challenge.get("failed_gesture"),
        "operator_reasons": reasons,
        "flags": session.report.get("flags", []),
    }
