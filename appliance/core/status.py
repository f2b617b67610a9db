"""What the appliance says about itself: versions (of the appliance, its plugins, its active models
and model bundle, every host's bundle, parts and heartbeat, the scheduler that leads) and
readiness (whether the database, the queue and the storage answer). `/api/version`,
`/health/ready` and the console's system page show these documents.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

import appliance
from appliance.core.hosts import HostState, read_hosts
from appliance.core.liveness import liveness_models
from appliance.core.services import AppServices
from appliance.runtime import ModelCard, ModelStore
from appliance.runtime.errors import ModelError

__all__ = ["readiness_document", "version_document"]


def version_document(services: AppServices) -> dict[str, Any]:
    """Versions of the appliance, its plugins, active models and model bundle; every host's bundle,
    parts and heartbeat, and which scheduler leads."""
    hosts = read_hosts(services.store, services.settings.hosts)
    reports = [h.report for h in hosts.hosts if h.report is not None]
    model_set = services.model_set.state()
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
            for card in _active_cards(services.models)
        ],
        "bundle": services.models.active_bundle(),
        # whether QUALITY can vouch for a live face: without a PAD model every face goes to an operator
        "liveness": liveness_models(services.models).to_dict(),
        "hosts": [_host_document(h) for h in hosts.hosts],
        # the schedulers' election (docs/scaling.md), among the parts not stale
        "scheduler": {
            "leader": hosts.leader,
            "leaders": [hostname for hostname, _ in hosts.leaders],
            "standbys": [hostname for hostname, _ in hosts.standbys],
        },
        "stale_after_seconds": hosts.stale_after_seconds,
        # this host's files: no switch pending, every active model as its card says, the bundle's versions active
        "model_set": msgspec.structs.asdict(model_set),
        # that, and every host that reported runs the same bundle (or none) at the same versions
        "consistent": model_set.consistent and len({(h.bundle_id, _versions(h.models)) for h in reports}) <= 1,
    }


def _stamp(when: datetime | None) -> str | None:
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def _host_document(host: HostState) -> dict[str, Any]:
    report = host.report
    return {
        "hostname": host.hostname,
        "bundle_id": report.bundle_id if report else None,
        "bundle_version": report.bundle_version if report else None,
        "models": report.models if report else {},
        "time_updated": _stamp(report.time_updated) if report else None,
        "time_seen": _stamp(host.time_seen),
        "stale": host.stale,
        "parts": [
            {
                "part": p.part,
                "pid": p.pid,
                "role": p.role,
                "time_started": _stamp(p.time_started),
                "time_seen": _stamp(p.time_seen),
                "stale": p.stale,
            }
            for p in host.parts
        ],
    }


def _active_cards(models: ModelStore) -> list[ModelCard]:
    """The card of every active model whose card reads (one that does not is in `model_set.problems`)."""
    cards = []
    for name in models.names():
        try:
            if models.active_version(name) is not None:
                cards.append(models.card(name))
        except ModelError:
            continue  # reported with its reason in `model_set.problems`
    return cards


def _versions(models: dict[str, str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(models.items()))


def readiness_document(services: AppServices) -> dict[str, Any]:
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
