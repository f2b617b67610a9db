"""Small helpers the controllers share: paging envelopes, meta_data verbs, lookups with access checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from litestar.response import File

from appliance.domain.errors import AppError, ErrorCode
from appliance.store.protocol import MetaCondition

__all__ = ["MAX_PAGE", "change_meta", "check_paging", "found", "meta_condition", "page", "send_file", "split_csv"]

MAX_PAGE = 1000
T = TypeVar("T")


def page(items: list[Any], total: int, offset: int, limit: int) -> dict[str, Any]:
    return {"items": items, "total": total, "offset": offset, "limit": limit}


def check_paging(offset: int, limit: int) -> None:
    if offset < 0 or not 1 <= limit <= MAX_PAGE:
        raise AppError(ErrorCode.INVALID_VALUE, f"offset must be >= 0 and limit within 1..{MAX_PAGE}")


def found(item: T | None, visible: Callable[[T], bool], what: str) -> T:
    """`item` if it exists and the caller may see it; otherwise NOT_EXIST (never 'forbidden',
    so callers cannot probe for other companies' ids)."""
    if item is None or not visible(item):
        raise AppError(ErrorCode.NOT_EXIST, f"{what} not found")
    return item


def split_csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def meta_condition(text: str) -> MetaCondition:
    """A `meta_data` filter written `key==value` or `key!=value`; INVALID_VALUE otherwise."""
    for op in ("==", "!="):
        key, sep, value = text.partition(op)
        if sep and key.strip():
            return MetaCondition(key=key.strip(), op=op, value=value)  # type: ignore[arg-type]
    raise AppError(ErrorCode.INVALID_VALUE, f"meta_data filter must be key==value or key!=value, got {text!r}")


def change_meta(current: dict[str, Any], method: str, body: Any, keys: list[str] | None) -> dict[str, Any]:
    """The Oz meta_data verbs: POST replaces, PATCH merges (a null value removes a key), DELETE
    removes the given `keys` or everything."""
    if method == "DELETE":
        return {k: v for k, v in current.items() if keys and k not in keys}
    if not isinstance(body, dict):
        raise AppError(ErrorCode.INVALID_STRUCTURE, "meta_data must be a JSON object")
    if method == "POST":
        return dict(body)
    merged = {**current, **body}
    return {k: v for k, v in merged.items() if v is not None}


def send_file(path: Path, media_type: str) -> File:
    """A stored file as the response (kept privately by the client for 5 minutes); NOT_EXIST when it is gone."""
    if not path.is_file():
        raise AppError(ErrorCode.NOT_EXIST, "file not found")
    return File(path=path, media_type=media_type, headers={"Cache-Control": "private, max-age=300"})
