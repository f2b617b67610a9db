"""N hosts (docs/scaling.md): two API hosts and three worker hosts of one installation, each a process
group (and, where the machine allows, a network namespace) of its own (tests/support/multihost.py),
on one PostgreSQL and one Redis. Folders are uploaded through both API hosts by the typed Python
client while, mid-load, a worker host and then the host of the leading scheduler are killed, every
process of each at once (SIGKILL).

Where the schedulers run: one on each API host, as a site would run them. The API hosts are the
tier a site keeps up and never scales to zero (two or more behind the balancer, for the same
reason: one may die), while worker hosts are the elastic tier, added and removed with the load and
run near full CPU and memory, where long analyses and the OOM killer live; the scheduler's chores
are small but must come on time, and leadership should not move every time the workers scale in.
Two schedulers are enough: any standby takes over, and a second standby adds nothing but
connections.

At the end: no folder lost (every folder a client was answered for is in the database with its
analysis, and no analysis FAILED), none stuck (every folder in the database, also one whose upload
the kill cut off, is final), no analysis ended twice and no folder resolved twice (counted in the
workers' logs of every host), the other API host's scheduler leading within the bound
docs/scaling.md gives for a dead leader (`election_retry_seconds`: the killed processes' sockets
are closed by their host's kernel, so the database frees the lock at once), and the dead hosts
shown as stale in `/api/version`.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx
import pytest
from appliance_client import Client

from appliance.domain.enums import AnalysisState, FolderStatus
from appliance.store import FolderFilter, Store, open_store
from appliance.store.protocol import HostPart
from tests.support.console import ConsoleVisitor
from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD, QUEUES, LiveAppliance, run_command
from tests.support.multihost import Site, assert_hosts_are_apart, hosts_of_one_installation, kill_host
from tests.support.soak import duplicated_ends, soak_photos, upload_folder

pytestmark = pytest.mark.timeout(300)

API_HOSTS = ("api-1", "api-2")
WORKER_HOSTS = ("work-1", "work-2", "work-3")
FOLDERS = 60
CLIENTS = 4
#: BRIGHTNESS holds each analysis this long: the load lasts long enough for both kills to fall in
#: it, and a worker host is killed while it holds a task.
HOLD_SECONDS = 0.3
RETRY = 1.0
#: Heartbeats every second; a part not seen for this many is stale (some slack for a loaded machine).
STALE_AFTER = 5
#: A standby sees a dead leader's lock free within one retry; the rest is slack for a loaded machine.
TAKEOVER_BOUND = RETRY + 2.0
SETTINGS = {
    # dead workers' analyses are retried within seconds; kills must not spend every attempt
    "QUEUE__LEASE_SECONDS": "2",
    "ANALYSIS__MAX_ATTEMPTS": "20",
    "ANALYSIS__RETRY_DELAY_SECONDS": "0.5",
    "API__SINGLE_REQUEST_TIMEOUT_SECONDS": "0.05",  # the single request answers at once
    "SCHEDULER__ELECTION_RETRY_SECONDS": f"{RETRY:g}",
    "SCHEDULER__ELECTION_TIMEOUT_SECONDS": "6",
    "HOSTS__HEARTBEAT_SECONDS": "1",
    "HOSTS__STALE_HEARTBEATS": f"{STALE_AFTER:g}",
}
SETTLE_SECONDS = 90


def _start(site: Site) -> None:
    for name in API_HOSTS:
        site.hosts[name].start_process("api", "serve")
        site.hosts[name].start_process("scheduler", "scheduler")
    for name in WORKER_HOSTS:
        for queue in QUEUES:
            site.hosts[name].start_process(f"worker-{queue}", "worker", "--queue", queue, "--workers", "1")
    for name in API_HOSTS:
        site.hosts[name].wait_ready()


def _fresh_parts(store: Store, seconds: float = STALE_AFTER) -> list[HostPart]:
    now = datetime.now(UTC)
    return [p for p in store.list_host_parts() if (now - p.time_seen).total_seconds() <= seconds]


def _wait_until(what: str, condition: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.1)


def _leaders(store: Store) -> set[str]:
    return {p.hostname for p in _fresh_parts(store) if p.part == "scheduler" and p.role == "leader"}


@dataclass
class Load:
    """Folders uploaded from CLIENTS threads, each preferring one API host and going to the other
    when its host does not answer (what a balancer does for a client)."""

    urls: list[str]
    token: str
    photos: list[bytes]
    created: list[str] = field(default_factory=list)
    created_at: list[float] = field(default_factory=list)
    switches: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def run(self) -> None:
        indexes = iter(range(FOLDERS))
        threads = [
            threading.Thread(target=self._client, args=(i, indexes), name=f"n-hosts-client-{i}") for i in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    def _client(self, number: int, indexes: object) -> None:
        clients = [Client(url, token=self.token, timeout=30) for url in self.urls]
        turn = number % len(clients)
        try:
            while True:
                with self.lock:
                    index = next(indexes, None)  # type: ignore[call-overload]
                if index is None:
                    return
                while True:
                    try:
                        photo = self.photos[index % len(self.photos)]
                        folder_id = upload_folder(clients[turn], photo, index, HOLD_SECONDS)
                    except httpx.TransportError:
                        turn = (turn + 1) % len(clients)  # this API host is down: the other one
                        with self.lock:
                            self.switches += 1
                        time.sleep(0.1)
                        continue
                    if folder_id is not None:
                        with self.lock:
                            self.created.append(folder_id)
                            self.created_at.append(time.monotonic())
                        break
                    time.sleep(0.2)  # refused (the client already retried a 429 or 503): again
        finally:
            for client in clients:
                client.close()


_EXECUTING = re.compile(r'"Executing appliance\.queue\.queues\.run_analys[ie]s: ([0-9a-f-]+)"')
_EXECUTED = re.compile(r'"appliance\.queue\.queues\.run_analys[ie]s: ([0-9a-f-]+) executed in ')


def _tasks_in_hand(host: LiveAppliance) -> set[str]:
    """The analysis tasks the host's analysis worker took and has not ended, read from its log (Huey's)."""
    assert host.log_dir is not None
    text = (host.log_dir / "worker-analysis.log").read_text(errors="replace")
    return set(_EXECUTING.findall(text)) - set(_EXECUTED.findall(text))


def _watch_takeover(store: Store, standby: str, killed_at: float, found: list[float]) -> None:
    """Seconds from the leader's kill until `standby`'s scheduler recorded that it leads (the row it
    writes the moment it takes the lock); polled every 50 ms, well within one heartbeat."""
    deadline = time.time() + 60
    while time.time() < deadline:
        for part in store.list_host_parts():
            if part.hostname == standby and part.part == "scheduler" and part.role == "leader":
                found.append(part.time_seen.timestamp() - killed_at)
                return
        time.sleep(0.05)


def test_two_api_hosts_three_worker_hosts_a_worker_host_and_the_leaders_host_killed(tmp_path) -> None:
    started = time.monotonic()
    with hosts_of_one_installation(
        tmp_path, [*API_HOSTS, *WORKER_HOSTS], api_hosts=API_HOSTS, prefix="nhosts", **SETTINGS
    ) as site:
        print(f"N-host mode: {site.network.mode}")
        _start(site)
        assert_hosts_are_apart(site.network, site.hosts)
        store = open_store(site.database_url)
        try:
            expected_parts = 2 * len(API_HOSTS) + len(QUEUES) * len(WORKER_HOSTS)
            _wait_until("every process registered", lambda: len(_fresh_parts(store)) == expected_parts)
            _wait_until("one scheduler leads", lambda: len(_leaders(store)) == 1)
            (leader,) = _leaders(store)
            (standby,) = set(API_HOSTS) - {leader}
            roles = {p.hostname: p.role for p in _fresh_parts(store) if p.part == "scheduler"}
            assert roles == {leader: "leader", standby: "standby"}
            startup = time.monotonic() - started
            print(f"{len(site.hosts)} hosts up in {startup:.1f} s; the scheduler on {leader} leads")

            api = site.hosts[standby]
            load = Load([site.hosts[name].base_url for name in API_HOSTS], api.login(), soak_photos(FOLDERS))
            uploader = threading.Thread(target=load.run, name="n-hosts-load")
            load_started = time.monotonic()
            uploader.start()
            _wait_until("a third of the folders", lambda: len(load.created) >= FOLDERS // 3, timeout=120)
            worker = site.hosts["work-1"]
            _wait_until("work-1 holds an analysis", lambda: bool(_tasks_in_hand(worker)), timeout=30)
            kill_host(worker)
            held = _tasks_in_hand(worker)  # taken by work-1, never ended there: retried elsewhere
            _wait_until("half of the folders", lambda: len(load.created) >= FOLDERS // 2, timeout=120)
            killed_at, created_before = time.time(), len(load.created)
            kill_host(site.hosts[leader])
            takeover: list[float] = []
            watcher = threading.Thread(target=_watch_takeover, args=(store, standby, killed_at, takeover))
            watcher.start()
            uploader.join(180)
            assert not uploader.is_alive(), "the uploads did not end"
            load_seconds = time.monotonic() - load_started
            watcher.join(60)
            assert takeover, f"no scheduler took the lead after {leader}'s host died\n{api.logs()}"
            print(
                f"takeover: the scheduler on {standby} leads {takeover[0]:.2f} s after {leader}'s host was killed"
                f" (retry every {RETRY:g} s, bound {TAKEOVER_BOUND:g} s)"
            )
            assert takeover[0] < TAKEOVER_BOUND

            settle = time.monotonic()
            while time.monotonic() - settle < SETTLE_SECONDS and _unfinished(store):
                time.sleep(0.5)
            settle_seconds = time.monotonic() - settle
            counts = _count(store, load.created)
            logs = [site.hosts[name].log_dir for name in WORKER_HOSTS]
            counts["duplicated"] = duplicated_ends(
                [d / "worker-analysis.log" for d in logs if d], [d / "worker-resolution.log" for d in logs if d]
            )
            print(
                f"{counts}; work-1 died holding {len(held)} analysis task(s);"
                f" {len(load.created) - created_before} folders created after the leader's host died,"
                f" {load.switches} uploads sent again to the other API host; load {load_seconds:.1f} s,"
                f" settled in {settle_seconds:.1f} s"
            )
            survivors = {name: site.hosts[name] for name in (standby, "work-2", "work-3")}
            assert counts["created"] >= FOLDERS and len(load.created) == FOLDERS, counts
            assert (counts["stuck"], counts["lost"], counts["failed"], counts["duplicated"]) == (0, 0, 0, 0), (
                f"{counts}\n" + "\n".join(h.logs() for h in survivors.values())
            )
            assert len(load.created) - created_before > 0, "uploads went on after the leader's host died"
            assert held, "work-1 died holding work (that the others then did)"

            # The registrations show the dead hosts as stale, the others fresh, and the new leader.
            time.sleep(STALE_AFTER + 0.5)  # past the stale window (heartbeats of 1 s) since the last kill
            version = httpx.get(f"{api.base_url}/api/version", timeout=10).json()
            stale = {h["hostname"]: h["stale"] for h in version["hosts"]}
            assert stale == {
                "api-1": leader == "api-1",
                "api-2": leader == "api-2",
                "work-1": True,
                "work-2": False,
                "work-3": False,
            }, version["hosts"]
            dead = {h["hostname"]: h for h in version["hosts"] if h["hostname"] in ("work-1", leader)}
            assert all(p["stale"] for host in dead.values() for p in host["parts"])
            assert {p["part"] for p in dead["work-1"]["parts"]} == {f"worker:{q}" for q in QUEUES}
            assert version["scheduler"] == {"leader": standby, "leaders": [standby], "standbys": []}

            # The console shows the same, and the doctor (run on the surviving API host) warns of both.
            visitor = ConsoleVisitor(api.base_url).log_in(ADMIN_EMAIL, ADMIN_PASSWORD)
            try:
                page = visitor.get("/console/system").text
            finally:
                visitor.close()
            assert f"led by {standby}" in page
            rows = page.split('id="hosts"', 1)[1].split("</table>", 1)[0].split("<tr")[2:]
            shown_stale = {row.split("<th", 1)[1].split(">", 1)[1].split("<", 1)[0]: "STALE" in row for row in rows}
            assert shown_stale == stale, shown_stale
            doctor = run_command(api.env, "doctor", "--json", launcher=api.launcher)
            checks = {c["check"]: c for c in json.loads(doctor.stdout)["checks"]}
            assert checks["hosts"]["status"] == "warn" and checks["scheduler"]["status"] == "ok", checks
            assert f"host {leader} is stale" in checks["hosts"]["detail"]
            assert "host work-1 is stale" in checks["hosts"]["detail"]
            assert checks["scheduler"]["detail"].startswith(f"{standby} leads (pid ")
        finally:
            store.close()
        _print_durations(started, startup)


def _unfinished(store: Store) -> bool:
    folders, _ = store.list_folders(FolderFilter(limit=1, statuses=[FolderStatus.INITIAL, FolderStatus.PROCESSING]))
    return bool(folders)


def _count(store: Store, created: list[str]) -> dict[str, int]:
    folders, _ = store.list_folders(FolderFilter(limit=10 * FOLDERS))
    known = {f.folder_id for f in folders}
    analyses = store.list_analyses_of_folders(list(known))
    failed = sum(a.state is AnalysisState.FAILED for items in analyses.values() for a in items)
    return {
        "created": len(folders),
        "finished": sum(a.state is AnalysisState.FINISHED for items in analyses.values() for a in items),
        "stuck": sum(f.resolution_status in (FolderStatus.INITIAL, FolderStatus.PROCESSING) for f in folders),
        "lost": sum(f not in known for f in created) + sum(not analyses.get(f) for f in known) + failed,
        "failed": failed,
    }


def _print_durations(started: float, startup: float) -> None:
    print(f"test: {time.monotonic() - started:.1f} s in all, {startup:.1f} s of it starting the hosts")
