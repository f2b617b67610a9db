"""The folder list's filters, as the console's search form sends them.

The form is POSTed, not put in the URL: a `meta_data` condition may hold a person's name or a
document number, and URLs end up in browser histories and server logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from appliance.domain.entities import User
from appliance.domain.enums import FolderStatus, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.policy import folder_scope
from appliance.store.protocol import FolderFilter, MetaCondition

__all__ = ["PAGE_SIZE", "FolderSearch"]

PAGE_SIZE = 50
MAX_META_CONDITIONS = 10


def _date(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise AppError(ErrorCode.INVALID_VALUE, f"{name} must be a date written YYYY-MM-DD") from exc


def _choice(text: str, allowed: type[FolderStatus] | type[Resolution], name: str) -> str:
    if text and text not in allowed.__members__:
        raise AppError(ErrorCode.INVALID_VALUE, f"unknown {name} {text!r}")
    return text


@dataclass(frozen=True, slots=True)
class FolderSearch:
    """What the search form holds; `parse` checks it, `folder_filter` turns it into a store query."""

    status: str = ""
    resolution: str = ""
    created_from: str = ""
    created_to: str = ""
    meta_data: str = ""  # one key==value or key!=value per line
    offset: int = 0
    conditions: list[MetaCondition] = field(default_factory=list)

    @classmethod
    def parse(cls, form: Mapping[str, str]) -> FolderSearch:
        """The search in `form`; INVALID_VALUE naming the first field that is wrong."""
        lines = [line.strip() for line in form.get("meta_data", "").splitlines() if line.strip()]
        if len(lines) > MAX_META_CONDITIONS:
            raise AppError(ErrorCode.INVALID_VALUE, f"at most {MAX_META_CONDITIONS} meta_data conditions")
        try:
            offset = max(0, int(form.get("offset") or 0))
        except ValueError as exc:
            raise AppError(ErrorCode.INVALID_VALUE, "offset must be a number") from exc
        search = cls(
            status=_choice(form.get("status", ""), FolderStatus, "status"),
            resolution=_choice(form.get("resolution", ""), Resolution, "resolution"),
            created_from=form.get("created_from", ""),
            created_to=form.get("created_to", ""),
            meta_data="\n".join(lines),
            offset=offset,
            conditions=[MetaCondition.parse(line) for line in lines],
        )
        start, end = _date(search.created_from, "from"), _date(search.created_to, "to")
        if start and end and end < start:
            raise AppError(ErrorCode.INVALID_VALUE, "the 'to' date is before the 'from' date")
        return search

    def folder_filter(self, user: User) -> FolderFilter:
        """The store query of this search, within what `user` may see."""
        scope = folder_scope(user)
        start, end = _date(self.created_from, "from"), _date(self.created_to, "to")
        return FolderFilter(
            company_id=scope.company_id,
            user_id=scope.user_id,
            statuses=[FolderStatus(self.status)] if self.status else None,
            resolutions=[Resolution(self.resolution)] if self.resolution else None,
            time_created_min=datetime.combine(start, time(), UTC) if start else None,
            # the whole 'to' day, inclusive
            time_created_max=datetime.combine(end, time(), UTC) + timedelta(days=1, microseconds=-1) if end else None,
            meta_data=self.conditions,
            offset=self.offset,
            limit=PAGE_SIZE,
        )
