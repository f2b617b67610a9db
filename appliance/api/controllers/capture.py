"""Capture sessions (docs/capture.md): opened through the API, used by the capture page.

- `POST /api/folders/{id}/capture_sessions` (a user who may add media to the folder): a new session,
  its random challenge and the capture page's address;
- `/capture/{token}`: the capture page, its session, its one recording and the verdict, reached by
  the token in the address (no login: the teller's customer holds the page), and the page's script
  and style under `/capture/static/`, all served by the appliance (no internet needed).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
from litestar import Controller, Request, Response, Router, get, post
from litestar.config.compression import CompressionConfig
from litestar.middleware import DefineMiddleware
from litestar.middleware.compression import CompressionMiddleware
from litestar.params import FromPath, JSONBody
from litestar.static_files import create_static_files_router

from appliance.api import capture_service, folder_service
from appliance.api.schemas import CaptureSessionIn
from appliance.api.security import CurrentUser
from appliance.core import capture
from appliance.core.providers import Services
from appliance.web.uploads import read_multipart

__all__ = ["CaptureSessionController", "capture_routes"]

PAGE = Path(__file__).resolve().parents[1] / "capture_page"
#: The page runs only what the appliance serves: its own script and style, the camera, this origin.
_PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def _secured(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"  # the address is the capability: never pass it on
    response.headers["Cache-Control"] = "no-store"
    return response


class CaptureSessionController(Controller):
    path = "/api/folders/{folder_id:str}/capture_sessions"
    tags = ["capture"]

    @post(
        "/",
        status_code=201,
        sync_to_thread=True,
        summary="Open a capture session: a random challenge for one recording",
    )
    def open_session(
        self, services: Services, user: CurrentUser, folder_id: FromPath[str], data: JSONBody[CaptureSessionIn]
    ) -> dict[str, Any]:
        types = [folder_service.installed_analysis(services, t).type for t in data.analyses] if data.analyses else None
        session, token = capture.open_session(services, user, folder_id, types)
        return capture.session_document(session, token, datetime.now(UTC))


@get("/{token:str}", include_in_schema=False, after_request=_secured)
async def capture_page(token: FromPath[str]) -> Response[bytes]:
    """The page itself: the same for every token (its script reads the token from the address)."""
    html = await anyio.Path(PAGE / "index.html").read_bytes()
    response = Response(html, media_type="text/html; charset=utf-8")
    response.headers["Content-Security-Policy"] = _PAGE_POLICY
    return response


@get("/{token:str}/session", sync_to_thread=True, after_request=_secured, summary="A capture session, for its page")
def capture_session(services: Services, token: FromPath[str]) -> dict[str, Any]:
    return capture.page_document(capture.session_for(services, token), datetime.now(UTC))


@post("/{token:str}/recording", status_code=202, after_request=_secured, summary="The capture session's one recording")
async def capture_recording(request: Request, services: Services, token: FromPath[str]) -> dict[str, Any]:
    await anyio.to_thread.run_sync(capture.session_for, services, token)  # refuse before reading the body
    upload = await read_multipart(request, services.settings.limits, services.settings.storage_path / "tmp")
    try:
        return await anyio.to_thread.run_sync(capture_service.record, services, token, upload)
    finally:
        upload.close()


@get("/{token:str}/verdict", sync_to_thread=True, after_request=_secured, summary="The verdict on the recording")
def capture_verdict(services: Services, token: FromPath[str]) -> dict[str, Any]:
    return capture.verdict(services, token)


def capture_routes() -> list[type[Controller] | Router]:
    """The API's capture sessions, and everything under /capture: the page, its session, recording and
    verdict, and its static files."""
    return [CaptureSessionController, _capture_router()]


def _capture_router() -> Router:
    return Router(
        path="/capture",
        tags=["capture"],
        # the page's script, style and answers, gzipped for a slow counter PC's link; the API as is
        middleware=[
            DefineMiddleware(CompressionMiddleware, config=CompressionConfig(backend="gzip", minimum_size=500))
        ],
        route_handlers=[
            create_static_files_router(
                path="/static", directories=[PAGE], after_request=_secured, include_in_schema=False
            ),
            capture_page,
            capture_session,
            capture_recording,
            capture_verdict,
        ],
    )
