"""`/api/version`, `/health/live`, `/health/ready`. The web console's system page shows the same
documents (`version_document`, `readiness_document`)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Response, get

import appliance
from appliance.api.services import ApiServices, Services

__all__ = ["SystemController", "readiness_document", "version_document"]


def version_document(services: ApiServices) -> dict[str, Any]:
    """Versions of the appliance, its plugins, active models and model bundle, and every host's bundle."""
    hosts = services.store.list_hosts()
    return {
        "app": appliance.__version__,
        "schema": services.store.schema_version(),
        "plugins": [
            {"name": p.name, "version": p.version, "analysis_types": list(p.analysis_types)}
            for p in services.plugins.plugins()
        ],
        # the media each type takes when the caller names none (what a client needs to know which
        # types a set of tagged media can run)
        "media_rules": {spec.type: spec.media_rule.to_dict() for spec in services.plugins.registry.specs()},
        "models": [
            {"name": card.name, "version": card.version, "task": card.task, "sha256": card.sha256}
            for card in (
                services.models.card(name) for name in services.models.names() if services.models.active_version(name)
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


def readiness_document(services: ApiServices) -> dict[str, Any]:
    """Whether the database, the queue and the storage answer, each with its failure if not."""
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
    return {"status": "pass" if healthy else "fail", "version": appliance.__version__, "checks": checks}


class SystemController(Controller):
    tags = ["system"]

    @get(
        "/api/version",
        sync_to_thread=True,
        summary="Versions of the appliance, its plugins, active models and model bundle, and every host's bundle",
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
