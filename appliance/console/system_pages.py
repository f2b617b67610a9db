"""The system page: versions, plugins, active models and bundles per host, and readiness.

It shows what `/api/version` and `/health/ready` answer (the same functions build both); it runs
no model and no canary, so opening it costs a few database and file reads.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get

from appliance.console.pages import render
from appliance.console.session import CurrentVisit
from appliance.core.providers import Services
from appliance.core.status import readiness_document, version_document

__all__ = ["system_page"]


@get("/system", sync_to_thread=True, summary="Model versions and health")
def system_page(visit: CurrentVisit, services: Services) -> Response[Any]:
    visit.signed_in()
    return render(
        visit,
        "system.html",
        {"version": version_document(services), "health": readiness_document(services), "page": "system"},
    )
