"""Hosts registered and read back (appliance/core/hosts.py), on both databases: a process's heartbeat
from its thread, what is stale, which scheduler leads, and a heartbeat that outlives a database
outage."""

from __future__ import annotations

import logging
import os
import time
from datetime import UTC, datetime, timedelta

import pytest

from appliance.core.hosts import LEADER, STANDBY, PartHeartbeat, read_hosts
from appliance.ops.settings import HostSettings
from appliance.store import DatabaseUnavailable, Store

SETTINGS = HostSettings(heartbeat_seconds=10, stale_heartbeats=3)  # stale after 30 s
T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _beat(store: Store, hostname: str, part: str, pid: int, ago: float, role: str | None = None) -> None:
    seen = T0 - timedelta(seconds=ago)
    store.beat_host_part(
        hostname, part, pid, role=role, time_started=seen, now=seen, forget_before=seen - timedelta(seconds=30)
    )


def test_hosts_are_read_with_their_parts_and_stale_ones_marked(store: Store) -> None:
    store.report_host("api-1", bundle_id="b", bundle_version=1, models={"m": "1"}, now=T0)
    store.report_host("old-host", bundle_id="b", bundle_version=1, models={"m": "1"}, now=T0 - timedelta(days=2))
    _beat(store, "api-1", "api", 10, ago=5)
    _beat(store, "api-1", "scheduler", 11, ago=5, role=LEADER)
    _beat(store, "work-1", "worker:analysis", 20, ago=31)  # three heartbeats and a second missed
    _beat(store, "work-1", "worker:resolution", 21, ago=45)
    _beat(store, "work-2", "worker:analysis", 30, ago=1)
    _beat(store, "work-2", "worker:preview", 31, ago=31)  # one part of a live host died
    _beat(store, "work-2", "scheduler", 32, ago=1, role=STANDBY)

    hosts = read_hosts(store, SETTINGS, now=T0)

    by_name = {h.hostname: h for h in hosts.hosts}
    assert list(by_name) == ["api-1", "old-host", "work-1", "work-2"]
    assert by_name["api-1"].report is not None and by_name["api-1"].report.models == {"m": "1"}
    assert not by_name["api-1"].stale and by_name["api-1"].time_seen == T0 - timedelta(seconds=5)
    assert by_name["work-1"].stale and by_name["work-1"].report is None
    assert by_name["work-1"].time_seen == T0 - timedelta(seconds=31)
    assert by_name["old-host"].stale and by_name["old-host"].parts == [] and by_name["old-host"].time_seen is None
    assert not by_name["work-2"].stale
    assert {p.part: p.stale for p in by_name["work-2"].parts} == {
        "scheduler": False,
        "worker:analysis": False,
        "worker:preview": True,
    }
    assert hosts.running and hosts.leader == "api-1"
    assert [h for h, _ in hosts.leaders] == ["api-1"] and [h for h, _ in hosts.standbys] == ["work-2"]
    assert hosts.stale_after_seconds == 30


def test_a_stale_leader_leads_no_more_and_two_fresh_ones_are_both_shown(store: Store) -> None:
    _beat(store, "api-1", "scheduler", 1, ago=40, role=LEADER)  # died
    _beat(store, "api-2", "scheduler", 2, ago=2, role=STANDBY)
    hosts = read_hosts(store, SETTINGS, now=T0)
    assert hosts.leaders == [] and hosts.leader is None and [h for h, _ in hosts.standbys] == ["api-2"]

    _beat(store, "api-2", "scheduler", 2, ago=1, role=LEADER)
    _beat(store, "api-3", "scheduler", 3, ago=1, role=LEADER)  # a fault: two lead
    hosts = read_hosts(store, SETTINGS, now=T0)
    assert [h for h, _ in hosts.leaders] == ["api-2", "api-3"] and hosts.leader is None


def test_nothing_runs_when_every_part_is_stale(store: Store) -> None:
    _beat(store, "one-host", "api", 1, ago=3600)
    hosts = read_hosts(store, SETTINGS, now=T0)
    assert not hosts.running and hosts.hosts[0].stale


def test_a_heartbeat_registers_at_start_and_beats_until_stopped(store: Store) -> None:
    heartbeat = PartHeartbeat(store, "work-1", "worker:analysis", HostSettings(heartbeat_seconds=0.1))
    heartbeat.start()
    try:
        [first] = store.list_host_parts()
        assert (first.hostname, first.part, first.pid, first.role) == ("work-1", "worker:analysis", os.getpid(), None)
        time.sleep(0.35)
        [later] = store.list_host_parts()
        assert later.time_seen > first.time_seen and later.time_started == first.time_started
    finally:
        heartbeat.stop()
    stopped = store.list_host_parts()[0].time_seen
    time.sleep(0.25)
    assert store.list_host_parts()[0].time_seen == stopped, "no beat after stop()"


class _Outage:
    """A store whose heartbeat writes fail while `down` is set, as a database away for a moment."""

    def __init__(self, store: Store) -> None:
        self.store, self.down = store, False

    def beat_host_part(self, *args: object, **kwargs: object) -> object:
        if self.down:
            raise DatabaseUnavailable("the database does not answer", 5)
        return self.store.beat_host_part(*args, **kwargs)  # type: ignore[arg-type]


def test_a_heartbeat_outlives_an_outage_and_says_so_once(store: Store, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="appliance.core.hosts")
    outage = _Outage(store)
    heartbeat = PartHeartbeat(outage, "api-1", "api", SETTINGS)  # type: ignore[arg-type]
    assert heartbeat.beat() is not None
    outage.down = True
    assert heartbeat.beat() is None and heartbeat.beat() is None
    outage.down = False
    assert heartbeat.beat() is not None
    said = [r.getMessage() for r in caplog.records]
    assert sum("could not record this api's heartbeat" in m for m in said) == 1, said
    assert sum("heartbeat is recorded again" in m for m in said) == 1, said
