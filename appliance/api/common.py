"""Small helpers the controllers share: paging envelopes, meta_data verbs, lookups with access checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from appliance.domain.errors import AppError, ErrorCode

__all__ = ["MAX_PAGE", "change_meta", "check_paging", "found", "page", "split_csv"]

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
