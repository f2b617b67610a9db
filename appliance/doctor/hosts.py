"""What the hosts of one installation must agree on (the time, the signed model bundle they run),
whether every host is still there, and whether exactly one scheduler leads.

Hosts report their active bundle to the database when their API or workers start, and every
process registers its part with a heartbeat (appliance/core/hosts.py); this host's own bundle is
read from its model store instead, so that an install since the last start counts.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from appliance.core.hosts import Hosts, HostState, read_hosts
from appliance.doctor.context import DoctorContext
from appliance.doctor.report import verdict
from appliance.runtime.errors import ModelError
from appliance.sdk.types import DoctorCheck

__all__ = [
    "CLOCK_SLACK",
    "FAIL_SKEW_SECONDS",
    "HOST_WINDOW",
    "WARN_SKEW_SECONDS",
    "check_clock",
    "check_hosts",
    "check_scheduler",
]

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
    if bundle is not None and bundle.installed_at is not None:
        times.append((f"the install of bundle {bundle.bundle_id}", datetime.fromisoformat(bundle.installed_at)))
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


def _ago(ctx: DoctorContext, when: datetime) -> str:
    seconds = (ctx.now - when).total_seconds()
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.0f} h"


def _stale_warnings(ctx: DoctorContext, hosts: Hosts) -> list[str]:
    """While the installation runs (some process is fresh), each host registered within HOST_WINDOW
    that is stale, and each stale part of a host that is not."""
    if not hosts.running:
        return []
    warnings = []
    window = f"{hosts.stale_after_seconds:g} s"
    for host in hosts.hosts:
        if host.time_seen is None or ctx.now - host.time_seen > HOST_WINDOW:
            continue  # never registered a part (an older release), or retired
        if host.stale:
            parts = ", ".join(sorted({p.part for p in host.parts}))
            warnings.append(
                f"host {host.hostname} is stale: not seen for {_ago(ctx, host.time_seen)} (over {window}; it ran"
                f" {parts}): start it again, or if it is retired its rows go after {HOST_WINDOW.days} days"
            )
        else:
            warnings += [
                f"{p.part} (pid {p.pid}) on {host.hostname} is stale: not seen for {_ago(ctx, p.time_seen)}:"
                " it stopped or died; start it again"
                for p in host.parts
                if p.stale
            ]
    return warnings


def check_hosts(ctx: DoctorContext) -> DoctorCheck:
    """Every host that reported within HOST_WINDOW runs this host's active bundle; while the
    appliance runs, no host (and no part of one) is stale."""
    if ctx.store is None:
        return DoctorCheck("hosts", "warn", "not checked: the database is not available")
    here = ctx.settings.hostname
    bundle = ctx.models.active_bundle()
    mine = (bundle.bundle_id, bundle.bundle_version) if bundle else (None, None)
    hosts = read_hosts(ctx.store, ctx.settings.hosts, ctx.now)
    reports = [h.report for h in hosts.hosts if h.report is not None]
    others = [r for r in reports if r.hostname != here]
    recent = [r for r in others if ctx.now - r.time_updated <= HOST_WINDOW]
    differ = [r for r in recent if (r.bundle_id, r.bundle_version) != mine]
    left_out = f"; {len(others) - len(recent)} host(s) silent for over {HOST_WINDOW.days} days left out"
    left_out = left_out if len(others) > len(recent) else ""

    def named(bundle_id: str | None, version: int | None) -> str:
        return f"bundle {bundle_id} version {version}" if bundle_id else "no bundle"

    if differ:
        names = ", ".join(f"{r.hostname} runs {named(r.bundle_id, r.bundle_version)}" for r in differ)
        return DoctorCheck(
            "hosts",
            "fail",
            f"this host ({here}) runs {named(*mine)}, but {names}: install the same bundle on every host{left_out}",
        )
    stale = _stale_warnings(ctx, hosts)
    return verdict("hosts", [], stale, f"{len(recent) + 1} host(s) run {named(*mine)}{left_out}{_seen(hosts)}")


def _seen(hosts: Hosts) -> str:
    fresh = [h for h in hosts.hosts if not h.stale]
    if not hosts.running:
        return "; no process runs now (none seen within the heartbeat window)"
    return f"; {len(fresh)} host(s) running: " + ", ".join(_parts(h) for h in fresh)


def _parts(host: HostState) -> str:
    return f"{host.hostname} ({', '.join(sorted({p.part for p in host.parts if not p.stale}))})"


def check_scheduler(ctx: DoctorContext) -> DoctorCheck:
    """While the appliance runs, exactly one scheduler leads (docs/scaling.md)."""
    if ctx.store is None:
        return DoctorCheck("scheduler", "warn", "not checked: the database is not available")
    hosts = read_hosts(ctx.store, ctx.settings.hosts, ctx.now)
    standbys = ", ".join(h for h, _ in hosts.standbys) or "none"
    if not hosts.running:
        return DoctorCheck("scheduler", "ok", "not checked: no process of the appliance runs now")
    if not hosts.leaders:
        return DoctorCheck(
            "scheduler",
            "warn",
            f"no scheduler leads (standby: {standbys}): maintenance jobs stop, so work a dead worker held is"
            " never retried; start `appliance scheduler` on a host (any number may run: one leads), or look"
            " in a standby's log for why it cannot take the lead",
        )
    if len(hosts.leaders) > 1:
        leaders = ", ".join(f"{h} (pid {p.pid})" for h, p in hosts.leaders)
        return DoctorCheck(
            "scheduler",
            "warn",
            f"more than one scheduler leads: {leaders}: every maintenance job runs twice; they must share"
            " one database (database_url) to elect one, and a leader cut off from it steps down within"
            " scheduler.election_timeout_seconds",
        )
    host, part = hosts.leaders[0]
    return DoctorCheck("scheduler", "ok", f"{host} leads (pid {part.pid}); standby: {standbys}")
