"""What an answer is made of: paging envelopes, stored files, the HTTP status of each error code,
and the headers, redirects and error status of console pages.

The API answers an `AppError` with `HTTP_STATUS[code]` and a JSON body (appliance.api.errors);
the console, and the console pages plugins add, with an HTML page of the same status
(`with_error`). Console pages carry `SECURITY_HEADERS`: a strict Content-Security-Policy (scripts,
styles, images and media from the appliance only) and no caching of what they show.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Response
from litestar.datastructures import Cookie
from litestar.response import File, Redirect

from appliance.domain.errors import AppError, ErrorCode

__all__ = [
    "ERROR_CODE_HEADER",
    "HTTP_STATUS",
    "RETRY_AFTER_DETAIL",
    "SECURITY_HEADERS",
    "error_headers",
    "html_page",
    "page",
    "private_file",
    "see_other",
    "send_file",
    "with_error",
]

HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNKNOWN: 500,
    ErrorCode.NOT_ALLOWED: 405,
    ErrorCode.NOT_REALIZED: 501,
    ErrorCode.INVALID_STRUCTURE: 400,
    ErrorCode.INVALID_VALUE: 400,
    ErrorCode.INVALID_TYPE: 400,
    ErrorCode.AUTH_NOT_PROVIDED: 401,
    ErrorCode.AUTH_INVALID: 401,
    ErrorCode.AUTH_EXPIRED: 401,
    ErrorCode.AUTH_FORBIDDEN: 403,
    ErrorCode.NOT_EXIST: 404,
    ErrorCode.EXTERNAL_SERVICE: 502,
    ErrorCode.PAYLOAD_INVALID: 400,
    ErrorCode.UNKNOWN_TAG: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.AUTH_LOCKED: 423,
    ErrorCode.TOO_MANY_FILES: 413,
    ErrorCode.NO_SOURCE_MEDIA: 400,
    ErrorCode.UNKNOWN_MEDIA_KEY: 400,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.ANALYSIS_TYPE_UNKNOWN: 400,
    ErrorCode.MEDIA_UNSUPPORTED_TYPE: 415,
    ErrorCode.MEDIA_CORRUPT: 422,
    ErrorCode.MEDIA_TOO_LARGE: 413,
    ErrorCode.MEDIA_TOO_MANY_PIXELS: 413,
    ErrorCode.MEDIA_TOO_LONG: 413,
    ErrorCode.MEDIA_EMPTY: 422,
    ErrorCode.ARCHIVE_UNSAFE_ENTRY: 422,
    ErrorCode.ARCHIVE_TOO_MANY_ENTRIES: 413,
    ErrorCode.ARCHIVE_TOO_LARGE: 413,
    ErrorCode.WEBHOOK_TARGET_REFUSED: 400,
    ErrorCode.MEDIA_TAG_MISMATCH: 422,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.FACE_NOT_FOUND: 422,
    ErrorCode.FACE_MULTIPLE: 422,
    ErrorCode.JSON_TOO_DEEP: 400,
    ErrorCode.BODY_TOO_LARGE: 413,
    ErrorCode.TEXT_INVALID_CHARACTER: 400,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.QUEUE_FULL: 503,
    ErrorCode.LOGIN_THROTTLED: 429,
    ErrorCode.STORAGE_UNAVAILABLE: 503,
    ErrorCode.CAPTURE_SESSION_UNKNOWN: 404,
    ErrorCode.CAPTURE_SESSION_EXPIRED: 410,
    ErrorCode.CAPTURE_SESSION_USED: 409,
    ErrorCode.CAPTURE_RECORDING_INVALID: 422,
}

#: The detail of a refusal that passes with time (429, 503): seconds to wait, sent as `Retry-After` too.
RETRY_AFTER_DETAIL = "retry_after_seconds"


def error_headers(error: AppError) -> dict[str, str]:
    """The headers an answer with `error` carries besides its body: `Retry-After` when it passes
    with time, `WWW-Authenticate` when credentials are missing or wrong."""
    headers = {}
    retry_after = (error.details or {}).get(RETRY_AFTER_DETAIL)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    if HTTP_STATUS.get(error.code) == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return headers


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # page URLs hold folder ids and signed media links: never send them to another site
    "Referrer-Policy": "no-referrer",
    # pages show personal data: no copies in caches
    "Cache-Control": "no-store",
}
#: Console error pages say their code in this header as well, for scripts and tests.
ERROR_CODE_HEADER = "X-Error-Code"


def page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    """One page of a list, as every list endpoint answers."""
    return {"items": items, "total": total, "offset": offset, "limit": limit}


def send_file(path: Path, media_type: str) -> File:
    """A stored file as the response (kept privately by the client for 5 minutes); NOT_EXIST when it is gone."""
    if not path.is_file():
        raise AppError(ErrorCode.NOT_EXIST, "file not found")
    return File(path=path, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})


def private_file(path: Path, media_type: str) -> File:
    """A stored file as a console response, with the console's headers (the browser keeps no
    copy); NOT_EXIST when it is gone. Check that the visit's user may see it first."""
    if not path.is_file():
        raise AppError(ErrorCode.NOT_EXIST, "file not found")
    return File(path=path, media_type=media_type, content_disposition_type="inline", headers=SECURITY_HEADERS)


def html_page(html: str, *, status_code: int = 200, cookies: Sequence[Cookie] = ()) -> Response[str]:
    """A console page: `html` with the security headers."""
    return Response(
        html,
        status_code=status_code,
        media_type="text/html; charset=utf-8",
        headers=SECURITY_HEADERS,
        cookies=list(cookies),
    )


def with_error(response: Response[Any], error: AppError | None) -> Response[Any]:
    """`response` answered with the status and code of `error` (a form sent back with its message)."""
    if error is not None:
        response.status_code = HTTP_STATUS.get(error.code, 400)
        response.headers[ERROR_CODE_HEADER] = str(int(error.code))
        response.headers.update(error_headers(error))
    return response


def see_other(path: str, **kwargs: Any) -> Redirect:
    """303 to `path` (after a form, or to the login page), with the security headers."""
    return Redirect(path, status_code=303, headers=SECURITY_HEADERS, **kwargs)
