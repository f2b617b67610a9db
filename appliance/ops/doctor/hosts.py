"""What the hosts of one installation must agree on: the time, and the signed model bundle they run.

Hosts report their active bundle to the database when their API or workers start
(appliance/queue/hosts.py); this host's own state is read from its model store instead, so that
an install since the last start counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.ops.doctor.context import DoctorContext
from appliance.ops.doctor.report import verdict
from appliance.runtime.errors import ModelError
from appliance.sdk.types import DoctorCheck

__all__ = ["CLOCK_SLACK", "FAIL_SKEW_SECONDS", "HOST_WINDOW", "WARN_SKEW_SECONDS", "check_clock", "check_hosts"]

#: Another host's report older than this is left out (a retired or renamed machine).
HOST_WINDOW = timedelta(days=30)
#: Clock differences between hosts: tokens, signed URLs and webhook signatures carry times.
WARN_SKEW_SECONDS = 5.0
FAIL_SKEW_SECONDS = 60.0
#: The signing machine's clock may run a little ahead of this one.
CLOCK_SLACK = timedelta(minutes=5)


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _bundle_times(ctx: DoctorContext) -> list[tuple[str, datetime]]:
    """(what, when) this host's clock cannot be before: the active bundle's issued_at and its install."""
    times = []
    bundle = ctx.models.active_bundle()
    if bundle is not None and isinstance(bundle.get("installed_at"), str):
        times.append((f"the install of bundle {bundle['bundle_id']}", datetime.fromisoformat(bundle["installed_at"])))
    try:
        manifest = ctx.models.active_manifest()
    except ModelError:
        manifest = None  # the models check names it
    if manifest is not None and isinstance(manifest.get("issued_at"), str):
        times.append(
            (f"the issued_at of bundle {manifest['bundle_id']}", datetime.fromisoformat(manifest["issued_at"]))
        )
    return times


def _skew(what: str, seconds: float, problems: list[str], warnings: list[str]) -> None:
    message = f"{what} differs from this host's clock by {seconds:+.1f} s: synchronise the clocks (NTP)"
    if abs(seconds) > FAIL_SKEW_SECONDS:
        problems.append(message)
    elif abs(seconds) > WARN_SKEW_SECONDS:
        warnings.append(message)


def check_clock(ctx: DoctorContext) -> DoctorCheck:
    """Not before the active bundle's issued_at or install; near the database server's and the other hosts' clocks."""
    problems: list[str] = []
    warnings: list[str] = []
    facts = [f"UTC {_stamp(ctx.now)}"]
    for what, when in _bundle_times(ctx):
        if ctx.now < when - CLOCK_SLACK:
            problems.append(f"the clock ({_stamp(ctx.now)}) is before {what} ({_stamp(when)}): set the time (UTC)")
    if ctx.database_clock_offset is not None:
        _skew("the database server's clock", ctx.database_clock_offset, problems, warnings)
        facts.append(f"database server {ctx.database_clock_offset:+.1f} s")
    if ctx.store is not None:
        for host in ctx.store.list_hosts():
            ahead = (host.time_updated - ctx.now).total_seconds()
            if host.hostname != ctx.settings.hostname and ahead > 0:  # a report from this host's future
                _skew(f"host {host.hostname} (its last report, {_stamp(host.time_updated)})", ahead, problems, warnings)
    return verdict("clock", problems, warnings, ", ".join(facts))


def check_hosts(ctx: DoctorContext) -> DoctorCheck:
    """Every host that reported within HOST_WINDOW runs this host's active bundle."""
    if ctx.store is None:
        return DoctorCheck("hosts", "warn", "not checked: the database is not available")
    here = ctx.settings.hostname
    bundle = ctx.models.active_bundle()
    mine = (bundle["bundle_id"], bundle["bundle_version"]) if bundle else (None, None)
    others = [h for h in ctx.store.list_hosts() if h.hostname != here]
    recent = [h for h in others if ctx.now - h.time_updated <= HOST_WINDOW]
    differ = [h for h in recent if (h.bundle_id, h.bundle_version) != mine]
    left_out = f"; {len(others) - len(recent)} host(s) silent for over {HOST_WINDOW.days} days left out"
    left_out = left_out if len(others) > len(recent) else ""

    def named(bundle_id: str | None, version: int | None) -> str:
        return f"bundle {bundle_id} version {version}" if bundle_id else "no bundle"

    if differ:
        hosts = ", ".join(f"{h.hostname} runs {named(h.bundle_id, h.bundle_version)}" for h in differ)
        return DoctorCheck(
            "hosts",
            "fail",
            f"this host ({here}) runs {named(*mine)}, but {hosts}: install the same bundle on every host{left_out}",
        )
    return DoctorCheck("hosts", "ok", f"{len(recent) + 1} host(s) run {named(*mine)}{left_out}")
