"""Operator decisions: the one implementation behind `POST /api/folders/{id}/decision` and the
web console's decision form (the rules are in appliance/domain/decisions.py).

Under the folder's lock, every analysis that answered OPERATOR_REQUIRED gets the decided result
and an audit row, in one transaction. The folder's own result is then worked out again by the
resolution queue, exactly as after an analysis finishes, so webhooks go out the usual way; the
call waits (a few seconds at most) for that, so that whoever decided sees the new result.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime

from appliance.core.folders import wait_for_folder
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.decisions import OperatorDecision, awaiting_decision, check_decision
from appliance.domain.entities import Folder, User
from appliance.domain.enums import Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.requests import found

__all__ = ["RESOLVE_WAIT_SECONDS", "decide_folder", "readable_folder"]

log = logging.getLogger(__name__)

#: How long a decision waits for the resolution queue to record the folder's new result.
RESOLVE_WAIT_SECONDS = 10.0


def readable_folder(services: AppServices, user: User, folder_id: str) -> Folder:
    """The folder if `user` may see it; NOT_EXIST otherwise (as for a folder that does not exist)."""
    return found(services.store.get_folder(folder_id), lambda f: policy.can_read_folder(user, f), "folder")


def decide_folder(
    services: AppServices, user: User, folder_id: str, resolution: str, comment: str
) -> list[OperatorDecision]:
    """Settle a folder that waits for an operator; the audit rows written (one per analysis).

    NOT_EXIST for a folder the user cannot see, AUTH_FORBIDDEN for a user who may not decide,
    INVALID_VALUE for a decision other than SUCCESS or DECLINED or a missing comment, CONFLICT
    for a folder that does not wait for a decision."""
    folder = readable_folder(services, user, folder_id)
    if not policy.can_decide_folder(user, folder):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not decide folders")
    decided, text = check_decision(resolution, comment)
    store = services.store
    with store.transaction():
        if not store.lock_folder(folder_id):
            raise AppError(ErrorCode.NOT_EXIST, "folder not found")
        folder = readable_folder(services, user, folder_id)  # as it is now, under the lock
        pending = awaiting_decision(folder, store.list_analyses(folder_id))
        if not pending:
            raise AppError(
                ErrorCode.CONFLICT,
                f"the folder does not wait for an operator decision (its result is {folder.system_resolution.value})",
            )
        now = datetime.now(UTC)
        written = [
            store.decide_analysis(
                OperatorDecision(
                    decision_id=str(uuid.uuid4()),
                    folder_id=folder_id,
                    analysis_id=analysis.analysis_id,
                    company_id=folder.company_id,
                    user_id=user.user_id,
                    user_email=user.email,
                    old_resolution=analysis.resolution_status,
                    new_resolution=decided,
                    comment=text,
                    time_created=now,
                )
            )
            for analysis in pending
        ]
    services.queues.enqueue_resolve(folder_id)
    wait_for_folder(
        store, folder_id, RESOLVE_WAIT_SECONDS, lambda f: f.system_resolution is not Resolution.OPERATOR_REQUIRED
    )
    decisions = [d for d in written if d is not None]
    # ids and outcomes only: the comment may name the person
    log.info("folder %s decided %s by user %s (%d analyses)", folder_id, decided.value, user.user_id, len(decisions))
    return decisions
