"""Errors mapped at the edge: every failure leaves the API as `{error_code, error_message, details}`.

Domain code raises `AppError` with a stable code; its HTTP status is `HTTP_STATUS[code]`
(appliance.web.responses, which the console's error pages use too).
Framework errors (unknown route, wrong method, malformed body or query) get the Oz codes.
Unexpected exceptions are logged with their traceback and answered with code 0, without detail.
`document_errors` says so in the OpenAPI schema: every operation's errors have this one shape.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import (
    HTTPException,
    MethodNotAllowedException,
    NotFoundException,
    TooManyRequestsException,
    ValidationException,
)
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)

from appliance.api.rate_limits import RATE_LIMIT_RESET_HEADER
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.responses import HTTP_STATUS, RETRY_AFTER_DETAIL, error_headers

__all__ = ["document_errors", "exception_handlers"]

log = logging.getLogger("appliance.api")


def _body(code: ErrorCode, message: str, details: Any) -> dict[str, Any]:
    return {"error_code": int(code), "error_name": code.name, "error_message": message, "details": details}


def _app_error(_: Request, exc: AppError) -> Response:
    return Response(
        _body(exc.code, exc.message, exc.details),
        status_code=HTTP_STATUS.get(exc.code, 400),
        headers=error_headers(exc),
    )


def _validation_error(_: Request, exc: ValidationException) -> Response:
    return Response(_body(ErrorCode.INVALID_STRUCTURE, str(exc.detail), exc.extra or None), status_code=400)


def _rate_limited(exc: TooManyRequestsException) -> AppError:
    retry_after = max(1, int((exc.headers or {}).get(RATE_LIMIT_RESET_HEADER, "60")))
    return AppError(
        ErrorCode.RATE_LIMITED,
        f"too many requests with this access token or from this address: try again in {retry_after} s",
        {RETRY_AFTER_DETAIL: retry_after},
    )


def _http_error(request: Request, exc: HTTPException) -> Response:
    if isinstance(exc, NotFoundException):
        code = ErrorCode.NOT_EXIST
    elif isinstance(exc, MethodNotAllowedException):
        code = ErrorCode.NOT_ALLOWED
    elif exc.status_code == 413:
        code = ErrorCode.MEDIA_TOO_LARGE
    elif isinstance(exc, TooManyRequestsException):  # the rate limits (rate_limits.py)
        return _app_error(request, _rate_limited(exc))
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


ERROR_SCHEMA = Schema(
    type=OpenAPIType.OBJECT,
    required=["error_code", "error_name", "error_message", "details"],
    properties={
        "error_code": Schema(type=OpenAPIType.INTEGER, description="stable: docs/errors.md"),
        "error_name": Schema(type=OpenAPIType.STRING, description="the code as a word"),
        "error_message": Schema(type=OpenAPIType.STRING, description="for people; may change between versions"),
        "details": Schema(
            type=[OpenAPIType.OBJECT, OpenAPIType.ARRAY, OpenAPIType.NULL],
            description="machine-readable facts (which media key, which limit), or null",
        ),
    },
)


def document_errors(openapi: OpenAPI) -> None:
    """Every operation's errors as the API answers them: the `Error` schema for any status the
    operation does not document otherwise, in place of Litestar's generated 400 (`detail`,
    `extra`), which the error mapping above never sends."""
    openapi.components = openapi.components or Components()
    openapi.components.schemas = {**(openapi.components.schemas or {}), "Error": ERROR_SCHEMA}
    answer = OpenAPIResponse(
        description="an error: `error_code` says which (docs/errors.md)",
        content={"application/json": OpenAPIMediaType(schema=Reference(ref="#/components/schemas/Error"))},
    )
    for path_item in (openapi.paths or {}).values():
        for method in ("get", "put", "post", "delete", "patch"):
            operation: Operation | None = getattr(path_item, method)
            if operation is not None:
                responses = dict(operation.responses or {})
                responses.pop("400", None)
                operation.responses = {**responses, "default": answer}
