"""Runs every check in order; later checks use what earlier ones opened (the database, the plugins)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from appliance.doctor.context import DoctorContext
from appliance.doctor.hosts import check_clock, check_hosts, check_scheduler
from appliance.doctor.liveness import check_liveness
from appliance.doctor.local import check_configuration, check_permissions, check_storage
from appliance.doctor.models import check_models
from appliance.doctor.object_storage import check_object_storage
from appliance.doctor.plugins import check_plugins
from appliance.doctor.report import Report
from appliance.doctor.services import check_database, check_queue
from appliance.ops.settings import load_settings
from appliance.sdk.types import DoctorCheck

__all__ = ["CHECKS", "run_doctor"]

log = logging.getLogger(__name__)

Check = Callable[[DoctorContext], DoctorCheck]

#: In this order: database before clock, hosts and scheduler (they read it), plugins before the plugins' checks.
CHECKS: tuple[tuple[str, Check], ...] = (
    ("configuration", check_configuration),
    ("permissions", check_permissions),
    ("storage", check_storage),
    ("object-storage", check_object_storage),
    ("database", check_database),
    ("queue", check_queue),
    ("models", check_models),
    ("liveness", check_liveness),
    ("clock", check_clock),
    ("hosts", check_hosts),
    ("scheduler", check_scheduler),
    ("plugins", check_plugins),
)


def _run(name: str, check: Check, ctx: DoctorContext) -> DoctorCheck:
    try:
        return check(ctx)
    except Exception as exc:  # noqa: BLE001  # one broken check must not hide the others
        log.debug("doctor check %s raised", name, exc_info=True)
        return DoctorCheck(name, "fail", f"could not check: {type(exc).__name__}: {exc}")


def run_doctor(environ: Mapping[str, str] | None = None) -> Report:
    """Every check against the settings of `environ` (default: this process's environment)."""
    try:
        settings = load_settings(dict(environ) if environ is not None else None)
    except ValueError as exc:
        return Report((DoctorCheck("configuration", "fail", str(exc)),))
    ctx = DoctorContext(settings, datetime.now(UTC))
    try:
        results = [_run(name, check, ctx) for name, check in CHECKS]
        if ctx.plugins is not None:
            results += ctx.plugins.doctor_checks()
    finally:
        ctx.close()
    return Report(tuple(results))
