"""Operator decisions: a person settles a folder that waits for one (OPERATOR_REQUIRED).

The decision overrides the result of every analysis of the folder that answered
OPERATOR_REQUIRED with SUCCESS or DECLINED, and the folder's result is then worked out again
from its analyses by the usual rule (`rules.folder_outcome`). Each overridden analysis leaves
one `OperatorDecision` in the audit trail: who, when, which analysis, its result before and
after, and the operator's comment, which is required.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from appliance.domain.entities import Analysis, Folder
from appliance.domain.enums import AnalysisState, FolderStatus, Resolution
from appliance.domain.errors import AppError, ErrorCode

__all__ = ["DECISIONS", "MAX_COMMENT_LENGTH", "OperatorDecision", "awaiting_decision", "check_decision"]

#: What an operator may decide.
DECISIONS = (Resolution.SUCCESS, Resolution.DECLINED)
MAX_COMMENT_LENGTH = 2000


@dataclass(frozen=True, slots=True)
class OperatorDecision:
    """One analysis result overridden by a person: a row of the audit trail.

    `user_email` is copied at decision time, so the trail still names the person after the
    account is renamed or deleted."""

    decision_id: str
    folder_id: str
    analysis_id: str
    company_id: str | None
    user_id: str
    user_email: str
    old_resolution: Resolution
    new_resolution: Resolution
    comment: str
    time_created: datetime | None = None


def check_decision(resolution: str, comment: str) -> tuple[Resolution, str]:
    """The decided resolution and the trimmed comment, or INVALID_VALUE saying what is wrong."""
    decided = resolution.strip().upper()
    if decided not in {r.value for r in DECISIONS}:
        raise AppError(ErrorCode.INVALID_VALUE, "the decision must be SUCCESS or DECLINED", {"field": "resolution"})
    text = comment.strip()
    if not text:
        raise AppError(ErrorCode.INVALID_VALUE, "a comment is required with a decision", {"field": "comment"})
    if len(text) > MAX_COMMENT_LENGTH:
        raise AppError(
            ErrorCode.INVALID_VALUE,
            f"the comment is longer than {MAX_COMMENT_LENGTH} characters",
            {"field": "comment", "max_length": MAX_COMMENT_LENGTH},
        )
    return Resolution(decided), text


def awaiting_decision(folder: Folder, analyses: Iterable[Analysis]) -> list[Analysis]:
    """The analyses a decision on `folder` would override; empty unless the folder waits for one."""
    if (
        folder.resolution_status is not FolderStatus.FINISHED
        or folder.system_resolution is not Resolution.OPERATOR_REQUIRED
    ):
        return []
    return [
        a for a in analyses if a.state is AnalysisState.FINISHED and a.resolution_status is Resolution.OPERATOR_REQUIRED
    ]
