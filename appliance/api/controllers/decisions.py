"""Operator decisions on a folder: `/api/folders/{id}/decision` and its audit trail `/decisions`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody

from appliance.api.schemas import DecisionIn
from appliance.api.security import CurrentUser
from appliance.core.decisions import decide_folder, readable_folder
from appliance.core.providers import Services
from appliance.wire import decision_to_wire


class DecisionController(Controller):
    path = "/api/folders/{folder_id:str}"
    tags = ["folders"]

    @post(
        "/decision",
        status_code=201,
        sync_to_thread=True,
        summary="Settle a folder that waits for an operator (OPERATOR_REQUIRED): SUCCESS or DECLINED, with a comment",
    )
    def decide(
        self, services: Services, user: CurrentUser, folder_id: FromPath[str], data: JSONBody[DecisionIn]
    ) -> list[dict[str, Any]]:
        decisions = decide_folder(services, user, folder_id, data.resolution, data.comment)
        return [decision_to_wire(d) for d in decisions]

    @get("/decisions", sync_to_thread=True, summary="The folder's audit trail of operator decisions, oldest first")
    def trail(self, services: Services, user: CurrentUser, folder_id: FromPath[str]) -> list[dict[str, Any]]:
        readable_folder(services, user, folder_id)
        return [decision_to_wire(d) for d in services.store.list_decisions(folder_id)]
