"""The hosts of an installation: what each runs, and whether it is still there.

Two records, two writers:
- each host reports what its model store runs to the database (`hosts`): the signed bundle the
  updater made active (`<models_root>/.bundle.json`, docs/model-store.md) and the active model
  versions. The API reports when it starts, a worker when it builds its services
  (`AppServices.report_host`). A report that fails is logged and never stops the process.
- every process registers its host and part (`host_parts`: `api`, `worker:<queue>`, `scheduler`
  with its role, `leader` or `standby`) when it starts and again every `hosts.heartbeat_seconds`
  (`PartHeartbeat`); a part not seen for `hosts.stale_heartbeats` heartbeats is stale, and a host
  none of whose parts is fresh is stale (`read_hosts`). A heartbeat that fails is logged and
  tried again at the next one.

`/api/version`, the console's system page and `appliance doctor` read both through `read_hosts`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from appliance.ops.settings import HostSettings
from appliance.runtime import ModelStore
from appliance.store import DATABASE_AWAY
from appliance.store.protocol import HostPart, HostReport, Store

__all__ = [
    "API_PART",
    "LEADER",
    "RETIRED_AFTER",
    "SCHEDULER_PART",
    "STANDBY",
    "HostState",
    "Hosts",
    "PartHeartbeat",
    "PartState",
    "read_hosts",
    "report_this_host",
    "worker_part",
]

log = logging.getLogger(__name__)

#: The parts a process registers as.
API_PART = "api"
SCHEDULER_PART = "scheduler"


def worker_part(queue_name: str) -> str:
    """The part of the workers of one queue: `worker:<queue>`."""
    return f"worker:{queue_name}"


#: A part not seen for this long is forgotten by the retention job (a retired host).
RETIRED_AFTER = timedelta(days=30)

#: A scheduler's roles (docs/scaling.md): the one that holds the lock, and those waiting for it.
LEADER = "leader"
STANDBY = "standby"


def report_this_host(store: Store, models: ModelStore, hostname: str | None = None) -> HostReport | None:
    """Record this host's active bundle and model versions; None (and a warning) if that failed."""
    try:
        bundle = models.active_bundle()
        active = {name: version for name in models.names() if (version := models.active_version(name))}
        return store.report_host(
            hostname or socket.gethostname(),
            bundle_id=bundle.bundle_id if bundle else None,
            bundle_version=bundle.bundle_version if bundle else None,
            models=active,
        )
    except Exception as exc:  # noqa: BLE001  # never stop a process over a report
        log.warning("could not report this host's model bundle: %s: %s", type(exc).__name__, exc)
        return None


class PartHeartbeat:
    """This process in `host_parts`: `beat()` writes its row once; `start()` beats now and then every
    `settings.heartbeat_seconds` from a daemon thread until `stop()`.

    Each beat also forgets the stale rows of this host and part (an earlier process of it that
    died and that this one replaces), so a host that restarts a part shows it once.
    """

    def __init__(
        self, store: Store, hostname: str, part: str, settings: HostSettings, *, role: str | None = None
    ) -> None:
        self.store, self.hostname, self.part, self.settings = store, hostname, part, settings
        self.role = role
        self.pid = os.getpid()
        self.started = datetime.now(UTC)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False

    def beat(self, role: str | None = None) -> HostPart | None:
        """Record this process as seen now (in `role`, when given); None (and a warning, once per
        outage) if the database did not take it."""
        if role is not None:
            self.role = role
        now = datetime.now(UTC)
        try:
            row = self.store.beat_host_part(
                self.hostname,
                self.part,
                self.pid,
                role=self.role,
                time_started=self.started,
                now=now,
                forget_before=now - timedelta(seconds=self.settings.stale_after_seconds),
            )
        except DATABASE_AWAY as exc:  # the next beat tries again
            if not self._failing:
                log.warning(
                    "could not record this %s's heartbeat: %s: %s; trying again every %g s",
                    self.part,
                    type(exc).__name__,
                    exc,
                    self.settings.heartbeat_seconds,
                )
            self._failing = True
            return None
        if self._failing:
            log.info("this %s's heartbeat is recorded again", self.part)
        self._failing = False
        return row

    def start(self) -> PartHeartbeat:
        self.beat()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{self.part}", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self.settings.heartbeat_seconds):
            self.beat()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


@dataclass(frozen=True, slots=True)
class PartState:
    part: str
    pid: int
    role: str | None
    time_started: datetime
    time_seen: datetime
    stale: bool


@dataclass(frozen=True, slots=True)
class HostState:
    hostname: str
    #: Its model bundle report; None for a host whose processes never reported one (a host that
    #: runs only a scheduler, which loads no model).
    report: HostReport | None
    parts: list[PartState]
    #: The latest heartbeat of any of its parts; None when none registered.
    time_seen: datetime | None
    #: No part seen within `hosts.stale_after_seconds` (or none registered).
    stale: bool


@dataclass(frozen=True, slots=True)
class Hosts:
    """Every host, by name, and the schedulers' roles among the fresh parts."""

    hosts: list[HostState]
    now: datetime
    stale_after_seconds: float
    #: (hostname, part) of every fresh scheduler in each role; more than one leader is a fault.
    leaders: list[tuple[str, PartState]] = field(default_factory=list)
    standbys: list[tuple[str, PartState]] = field(default_factory=list)

    @property
    def leader(self) -> str | None:
        """The host whose scheduler leads, when exactly one does."""
        return self.leaders[0][0] if len(self.leaders) == 1 else None

    @property
    def running(self) -> bool:
        """Whether any process of the installation is fresh (the appliance runs)."""
        return any(not host.stale for host in self.hosts)


def read_hosts(store: Store, settings: HostSettings, now: datetime | None = None) -> Hosts:
    """Every host that reported a bundle or registered a part, with its parts and whether each is stale."""
    now = now or datetime.now(UTC)
    window = timedelta(seconds=settings.stale_after_seconds)
    reports = {report.hostname: report for report in store.list_hosts()}
    parts: dict[str, list[PartState]] = {}
    for row in store.list_host_parts():
        parts.setdefault(row.hostname, []).append(
            PartState(row.part, row.pid, row.role, row.time_started, row.time_seen, now - row.time_seen > window)
        )
    hosts = []
    for hostname in sorted(reports.keys() | parts.keys()):
        mine = parts.get(hostname, [])
        seen = max((p.time_seen for p in mine), default=None)
        hosts.append(HostState(hostname, reports.get(hostname), mine, seen, seen is None or all(p.stale for p in mine)))
    fresh = [(host.hostname, p) for host in hosts for p in host.parts if not p.stale and p.part == SCHEDULER_PART]
    return Hosts(
        hosts,
        now,
        settings.stale_after_seconds,
        leaders=[(h, p) for h, p in fresh if p.role == LEADER],
        standbys=[(h, p) for h, p in fresh if p.role == STANDBY],
    )
