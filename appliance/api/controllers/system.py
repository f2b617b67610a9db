"""`/api/version`, `/health/live`, `/health/ready` (the documents are appliance.core.status's, which
the web console's system page shows too)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

from appliance.core.providers import Services
from appliance.core.status import readiness_document, version_document

__all__ = ["SystemController"]


class SystemController(Controller):
    tags = ["system"]

    @get(
        "/api/version",
        sync_to_thread=True,
        summary=(
            "Versions of the appliance, its plugins, active models and model bundle; every host's bundle,"
            " parts and heartbeat, and which scheduler leads"
        ),
    )
    def version(self, services: Services) -> dict[str, Any]:
        return version_document(services)

    @get("/health/live", sync_to_thread=False, summary="The process answers")
    def live(self) -> dict[str, str]:
        return {"status": "pass"}

    @get("/health/ready", sync_to_thread=True, summary="Database, queue and storage answer (503 if not)")
    def ready(self, services: Services) -> Response[dict[str, Any]]:
        body = readiness_document(services)
        status_code = 200 if body["status"] == "pass" else 503
        return Response(body, status_code=status_code, media_type="application/health+json")
