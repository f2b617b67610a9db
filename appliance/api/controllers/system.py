"""`/api/version`, `/health/live`, `/health/ready`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

import appliance
from appliance.api.services import Services


class SystemController(Controller):
    tags = ["system"]

    @get(
        "/api/version",
        sync_to_thread=True,
        summary="Versions of the appliance, its plugins, active models and model bundle, and every host's bundle",
    )
    def version(self, services: Services) -> dict[str, Any]:
        hosts = services.store.list_hosts()
        return {
            "app": appliance.__version__,
            "schema": services.store.schema_version(),
            "plugins": [
                {"name": p.name, "version": p.version, "analysis_types": list(p.analysis_types)}
                for p in services.plugins.plugins()
            ],
            "models": [
                {"name": card.name, "version": card.version, "task": card.task, "sha256": card.sha256}
                for card in (
                    services.models.card(name)
                    for name in services.models.names()
                    if services.models.active_version(name)
                )
            ],
            "bundle": services.models.active_bundle(),
            "hosts": [
                {
                    "hostname": h.hostname,
                    "bundle_id": h.bundle_id,
                    "bundle_version": h.bundle_version,
                    "models": h.models,
                    "time_updated": h.time_updated.isoformat().replace("+00:00", "Z"),
                }
                for h in hosts
            ],
            # every host that reported runs the same bundle (or none)
            "consistent": len({h.bundle_id for h in hosts}) <= 1,
        }

    @get("/health/live", sync_to_thread=False, summary="The process answers")
    def live(self) -> dict[str, str]:
        return {"status": "pass"}

    @get("/health/ready", sync_to_thread=True, summary="Database, queue and storage answer (503 if not)")
    def ready(self, services: Services) -> Response[dict[str, Any]]:
        checks: dict[str, dict[str, str]] = {}
        for name, probe in (
            ("database", services.store.ping),
            ("queue", services.queues.ping),
            ("storage", services.storage.check_writable),
        ):
            try:
                probe()
                checks[name] = {"status": "pass"}
            except Exception as exc:  # any failure of a dependency means "not ready"; reported below
                checks[name] = {"status": "fail", "output": f"{type(exc).__name__}: {exc}"}
        healthy = all(c["status"] == "pass" for c in checks.values())
        body = {"status": "pass" if healthy else "fail", "version": appliance.__version__, "checks": checks}
        return Response(body, status_code=200 if healthy else 503, media_type="application/health+json")
