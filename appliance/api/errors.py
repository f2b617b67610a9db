"""Errors mapped at the edge: every failure leaves the API as `{error_code, error_message, details}`.

Domain code raises `AppError` with a stable code; this module alone decides the HTTP status.
Framework errors (unknown route, wrong method, malformed body or query) get the Oz codes.
Unexpected exceptions are logged with their traceback and answered with code 0, without detail.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, MethodNotAllowedException, NotFoundException, ValidationException

from appliance.domain.errors import AppError, ErrorCode

__all__ = ["HTTP_STATUS", "exception_handlers"]

log = logging.getLogger("appliance.api")

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
    ErrorCode.MEDIA_UNSUPPORTED_TYPE: 415,
    ErrorCode.MEDIA_CORRUPT: 422,
    ErrorCode.MEDIA_TOO_LARGE: 413,
    ErrorCode.MEDIA_TOO_MANY_PIXELS: 413,
    ErrorCode.MEDIA_TOO_LONG: 413,
    ErrorCode.MEDIA_EMPTY: 422,
    ErrorCode.ARCHIVE_UNSAFE_ENTRY: 422,
    ErrorCode.ARCHIVE_TOO_MANY_ENTRIES: 413,
    ErrorCode.ARCHIVE_TOO_LARGE: 413,
    ErrorCode.CSRF_FAILED: 403,
    ErrorCode.FACE_NOT_FOUND: 422,
    ErrorCode.FACE_MULTIPLE: 422,
}


def _body(code: ErrorCode, message: str, details: Any) -> dict[str, Any]:
    return {"error_code": int(code), "error_name": code.name, "error_message": message, "details": details}


def _app_error(_: Request, exc: AppError) -> Response:
    status = HTTP_STATUS.get(exc.code, 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return Response(_body(exc.code, exc.message, exc.details), status_code=status, headers=headers)


def _validation_error(_: Request, exc: ValidationException) -> Response:
    return Response(_body(ErrorCode.INVALID_STRUCTURE, str(exc.detail), exc.extra or None), status_code=400)


def _http_error(_: Request, exc: HTTPException) -> Response:
    if isinstance(exc, NotFoundException):
        code = ErrorCode.NOT_EXIST
    elif isinstance(exc, MethodNotAllowedException):
        code = ErrorCode.NOT_ALLOWED
    elif exc.status_code == 413:
        code = ErrorCode.MEDIA_TOO_LARGE
    elif exc.status_code >= 500:
        code = ErrorCode.UNKNOWN
    else:
        code = ErrorCode.INVALID_STRUCTURE
    return Response(_body(code, str(exc.detail), None), status_code=exc.status_code, headers=exc.headers)


def _unexpected_error(request: Request, exc: Exception) -> Response:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(_body(ErrorCode.UNKNOWN, "Unknown server side error occurred", None), status_code=500)


exception_handlers = {
    AppError: _app_error,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}
