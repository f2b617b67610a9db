"""What a request carries, checked before a handler sees it: JSON under limits, and no text a
store cannot keep.

Every JSON document a request carries, a JSON body or a multipart upload's `payload` part, is
decoded by `parse_json`: objects and arrays may nest `limits.max_json_depth` deep (JSON_TOO_DEEP;
a hundred thousand levels would otherwise exhaust the stack, in the decoder or later in the store),
and no string or key may hold a NUL (TEXT_INVALID_CHARACTER). PostgreSQL cannot store a NUL in
text and SQLite can, so the answer would depend on the store; it is refused here, at the edge, on
both. msgspec itself refuses lone surrogates; invalid UTF-8 is TEXT_INVALID_CHARACTER too.

The app's request class (`checked_request_class`) decodes JSON bodies with `parse_json` and
checks the fields of forms; `refuse_nul_in_url`, a guard on every route, checks the path and the
query. How large a body may be is `draining.py`'s: it counts the bytes as they arrive.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import FormMultiDict, UploadFile
from litestar.handlers import BaseRouteHandler

from appliance.domain.errors import AppError, ErrorCode
from appliance.ops.settings import Limits

__all__ = ["MULTIPART", "check_text", "checked_request_class", "parse_json", "refuse_nul_in_url"]

MULTIPART = "multipart/form-data"
_NUL = "\x00"


def check_text(text: str, what: str) -> None:
    """TEXT_INVALID_CHARACTER when `text` (a part of `what`) holds a NUL."""
    if _NUL in text:
        raise AppError(
            ErrorCode.TEXT_INVALID_CHARACTER,
            f"{what} holds a NUL character (\\u0000), which the appliance does not store",
            {"character": "U+0000"},
        )


def parse_json(raw: bytes, limits: Limits, *, what: str, malformed: ErrorCode) -> Any:
    """The JSON document `raw`, checked: `malformed` when it is not JSON, JSON_TOO_DEEP when it
    nests deeper than `limits.max_json_depth`, TEXT_INVALID_CHARACTER for invalid UTF-8 or a NUL."""
    try:
        document = msgspec.json.decode(raw)
    except RecursionError as exc:  # nested far past any limit: msgspec gave up before we could count
        raise _too_deep(what, limits.max_json_depth) from exc
    except (UnicodeDecodeError, msgspec.DecodeError) as exc:  # msgspec 0.23 says "invalid UTF-8" as a DecodeError
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as invalid:
            raise AppError(ErrorCode.TEXT_INVALID_CHARACTER, f"{what} is not UTF-8 (byte {invalid.start})") from exc
        raise AppError(malformed, f"{what} is not valid JSON: {exc}") from exc
    _check_document(document, limits.max_json_depth, what)
    return document


def _check_document(document: Any, max_depth: int, what: str) -> None:
    """Walks the decoded document without recursion: its depth (a top-level object or array is 1
    deep) and every string and key."""
    pending: list[tuple[Any, int]] = [(document, 0)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            check_text(value, what)
        elif isinstance(value, dict | list):
            if depth == max_depth:
                raise _too_deep(what, max_depth)
            if isinstance(value, dict):
                for key in value:
                    check_text(key, what)
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, depth + 1) for child in children)


def _too_deep(what: str, max_depth: int) -> AppError:
    return AppError(
        ErrorCode.JSON_TOO_DEEP,
        f"{what} nests objects and arrays more than {max_depth} deep",
        {"max_depth": max_depth},
    )


def checked_request_class(limits: Limits) -> type[Request[Any, Any, Any]]:
    """The app's request class: JSON bodies through `parse_json`, form fields through `check_text`."""

    class CheckedRequest(Request[Any, Any, Any]):
        async def body(self) -> bytes:
            # Only a route that reads its body whole gets here; a multipart upload is read part by
            # part (uploads.py), and its size is only bounded by the upload limits, not the body's.
            if self.content_type[0] == MULTIPART:
                raise AppError(ErrorCode.INVALID_STRUCTURE, "this endpoint takes a JSON body, not multipart/form-data")
            return await super().body()

        async def json(self) -> Any:
            return parse_json(
                await self.body() or b"null", limits, what="the body", malformed=ErrorCode.INVALID_STRUCTURE
            )

        async def form(self) -> FormMultiDict:
            form = await super().form()
            for key, value in form.multi_items():
                check_text(key, "a form field's name")
                if isinstance(value, str):
                    check_text(value, f"form field {key!r}")
                elif isinstance(value, UploadFile):
                    check_text(value.filename, f"the name of file {key!r}")
            return form

    return CheckedRequest


def refuse_nul_in_url(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard on every route: TEXT_INVALID_CHARACTER for a NUL in the path or the query (`%00`),
    before a path or query parameter reaches the store."""
    check_text(connection.scope["path"], "the URL's path")
    if b"%00" in connection.scope["query_string"]:
        check_text(_NUL, "the URL's query")
