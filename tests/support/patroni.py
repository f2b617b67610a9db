"""A Patroni cluster of PostgreSQL servers on this machine, for failover tests.

One etcd (Debian's `etcd-server`) holds the cluster's state; each member is a Patroni process
(Debian's `patroni`) running its own PostgreSQL (the server binaries of the newest
version under /usr/lib/postgresql) in a directory of its own, on free ports of 127.0.0.1.
Replication is synchronous (Patroni's `synchronous_mode`), so that a commit a client was told
of is on the replica too, and a replica may take over without losing it. As root, Patroni and
PostgreSQL run as the `postgres` user (initdb refuses root); otherwise as the current user.

    with patroni_cluster(members=2) as cluster:
        url = cluster.url("appliance")          # every member, target_session_attrs=read-write
        leader = cluster.wait_leader()
        cluster.kill(leader)                    # Patroni and its PostgreSQL: SIGKILL, no goodbye
        cluster.wait_leader(other_than=leader)

`require_patroni()` skips a test when a binary is missing, except under CI=true, where it fails
it: CI installs them (scripts/system-packages).
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from tests.support.live import free_port
from tests.support.missing import missing

__all__ = ["Binaries", "Member", "PatroniCluster", "patroni", "patroni_cluster", "require_patroni"]

SCOPE = "appliance-failover"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#: The shortest times Patroni accepts (ttl >= 20 s, loop_wait >= 1 s, retry_timeout >= 3 s):
#: a dead leader's key lapses within `TTL` seconds, and the replica takes over at its next loop.
TTL = 20
LOOP_WAIT = 1
RETRY_TIMEOUT = 5
SUPERUSER = "postgres"
REPLICATION_USER = "replicator"
#: Passwords of a throwaway cluster on 127.0.0.1 (pg_hba trusts loopback anyway).
PASSWORD = "failover-test"
#: Straight to 127.0.0.1, whatever proxy the environment names.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class Binaries:
    patroni: str
    etcd: str
    postgres_bin: Path


def _postgres_bin_dir() -> Path | None:
    """The newest PostgreSQL whose server binaries are installed (Debian's layout)."""
    found = sorted(
        (p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").is_file() and p.parent.name.isdigit()),
        key=lambda p: int(p.parent.name),
    )
    return found[-1] if found else None


def find_binaries() -> tuple[Binaries | None, list[str]]:
    """The binaries a cluster needs, or None and the names of those missing."""
    patroni = _patroni()
    etcd = shutil.which("etcd")
    postgres_bin = _postgres_bin_dir()
    missing = [
        name
        for name, path in (("patroni", patroni), ("etcd (etcd-server)", etcd), ("PostgreSQL", postgres_bin))
        if path is None
    ]
    if missing:
        return None, missing
    assert patroni is not None and etcd is not None and postgres_bin is not None
    return Binaries(patroni, etcd, postgres_bin), []


def _patroni() -> str | None:
    """Debian's `patroni` as root: it runs as `postgres`, whom a Python under root's home (a
    virtual environment's) is closed to. Otherwise any on PATH, or the virtual environment's."""
    if os.geteuid() == 0:
        return shutil.which("patroni", path=SYSTEM_PATH)
    beside = Path(sys.executable).parent / "patroni"
    return shutil.which("patroni") or (str(beside) if beside.is_file() else None)


def require_patroni() -> Binaries:
    """The binaries, or skip the test naming those missing (fail it under CI=true)."""
    binaries, absent = find_binaries()
    if binaries is None:
        missing(f"a Patroni cluster needs {', '.join(absent)}")
    return binaries


def _run_as() -> tuple[int, int] | None:
    """(uid, gid) of `postgres` when this runs as root; None: run as the current user."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam("postgres")
    return entry.pw_uid, entry.pw_gid


@dataclass
class Member:
    name: str
    directory: Path
    pg_port: int
    rest_port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        return self.directory / "data"

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.data_dir / "postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def rest(self, path: str, timeout: float = 1.0) -> tuple[int, dict[str, object]]:
        """GET a path of the member's REST API: (status, JSON body); (0, {}) when it does not answer."""
        try:
            with _HTTP.open(f"http://127.0.0.1:{self.rest_port}{path}", timeout=timeout) as answer:
                return answer.status, json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as exc:
            try:
                return exc.code, json.loads(exc.read() or b"{}")
            except ValueError:
                return exc.code, {}
        except (OSError, ValueError):
            return 0, {}


@dataclass
class PatroniCluster:
    root: Path
    binaries: Binaries
    etcd_port: int
    members: dict[str, Member] = field(default_factory=dict)
    killed: set[str] = field(default_factory=set)

    def url(self, database: str = "postgres") -> str:
        """The libpq multi-host URL an appliance is given: every member, the primary chosen at connect."""
        hosts = ",".join(f"127.0.0.1:{m.pg_port}" for m in self.members.values())
        return f"postgresql://{SUPERUSER}:{PASSWORD}@{hosts}/{database}?target_session_attrs=read-write"

    def member_url(self, name: str, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}:{PASSWORD}@127.0.0.1:{self.members[name].pg_port}/{database}"

    def leader(self) -> str | None:
        """The member whose Patroni says it runs the primary now, if one does."""
        for member in self.members.values():
            if member.name in self.killed:
                continue
            status, body = member.rest("/patroni")
            if status == 200 and body.get("role") in ("primary", "master") and body.get("state") == "running":
                return member.name
        return None

    def wait_leader(self, timeout: float = 90.0, other_than: str | None = None) -> str:
        """The primary's member once one accepts writes (not `other_than`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None and leader != other_than and self._writable(leader):
                return leader
            time.sleep(0.2)
        raise RuntimeError(f"no primary in {timeout:g} s\n{self.logs()}")

    def wait_streaming(self, timeout: float = 90.0) -> None:
        """Until every member other than the primary replicates synchronously from it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None:
                status, body = self.members[leader].rest("/cluster")
                members = body.get("members", []) if status == 200 else []
                assert isinstance(members, list)
                sync = [
                    m for m in members if m.get("role") == "sync_standby" and m.get("state") in ("streaming", "running")
                ]
                if len(sync) == len(self.members) - 1 - len(self.killed):
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the replicas did not stream in {timeout:g} s\n{self.logs()}")

    def _writable(self, name: str) -> bool:
        try:
            with psycopg.connect(self.member_url(name), connect_timeout=2, autocommit=True) as conn:
                row = conn.execute("SELECT pg_is_in_recovery()").fetchone()
                return row is not None and not row[0]
        except psycopg.OperationalError:
            return False

    def create_database(self, name: str) -> None:
        with psycopg.connect(self.url(), connect_timeout=5, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def kill(self, name: str) -> float:
        """The member's host dies: SIGKILL to its Patroni, then to its postmaster's process group
        (the postmaster and every backend). Returns the time.monotonic() of the server's kill."""
        member = self.members[name]
        postmaster = member.postmaster_pid()
        assert member.process is not None and postmaster is not None
        # Patroni starts the postmaster in a session of its own, led by a helper process that
        # exits: the postmaster and its backends share that group.
        group = os.getpgid(postmaster)
        assert group != os.getpgid(0)
        member.process.kill()
        member.process.wait()
        os.killpg(group, signal.SIGKILL)
        killed_at = time.monotonic()
        self.killed.add(name)
        return killed_at

    def logs(self, tail: int = 3000) -> str:
        parts = []
        for path in sorted(self.root.glob("*/*.log")):
            parts.append(f"--- {path.parent.name}/{path.name}\n{path.read_text(errors='replace')[-tail:]}")
        return "\n".join(parts)

    def stop(self) -> None:
        for member in self.members.values():
            if member.process is not None and member.process.poll() is None:
                member.process.terminate()  # Patroni stops its PostgreSQL (fast shutdown)
        for member in self.members.values():
            if member.process is None:
                continue
            try:
                member.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                member.process.kill()
                member.process.wait()
            postmaster = member.postmaster_pid()
            if postmaster is not None:  # a PostgreSQL its Patroni left behind
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
                    os.killpg(os.getpgid(postmaster), signal.SIGKILL)


def _member_config(cluster: PatroniCluster, member: Member, socket_dir: Path) -> dict[str, object]:
    bin_dir = str(cluster.binaries.postgres_bin)
    return {
        "scope": SCOPE,
        "name": member.name,
        "log": {"level": "INFO"},
        "restapi": {"listen": f"127.0.0.1:{member.rest_port}", "connect_address": f"127.0.0.1:{member.rest_port}"},
        "etcd3": {"hosts": [f"127.0.0.1:{cluster.etcd_port}"]},
        "bootstrap": {
            "dcs": {
                "ttl": TTL,
                "loop_wait": LOOP_WAIT,
                "retry_timeout": RETRY_TIMEOUT,
                "maximum_lag_on_failover": 1024 * 1024,
                # A commit returns once the replica has it: a replica that takes over lost nothing.
                "synchronous_mode": True,
                "postgresql": {
                    "use_pg_rewind": False,
                    "use_slots": True,
                    "parameters": {
                        "max_connections": 100,
                        "max_wal_senders": 5,
                        "max_replication_slots": 5,
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "fsync": "off",  # a test's throwaway data: no disk flushes on a shared machine
                        "full_page_writes": "off",
                        # when each row was committed: the test reads when the first write after a kill was
                        "track_commit_timestamp": "on",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, {"locale": "C"}, {"auth": "trust"}],
        },
        "postgresql": {
            "listen": f"127.0.0.1:{member.pg_port}",
            "connect_address": f"127.0.0.1:{member.pg_port}",
            "data_dir": str(member.data_dir),
            "bin_dir": bin_dir,
            "pgpass": str(member.directory / "pgpass"),
            "authentication": {
                "superuser": {"username": SUPERUSER, "password": PASSWORD},
                "replication": {"username": REPLICATION_USER, "password": PASSWORD},
            },
            "parameters": {"unix_socket_directories": str(socket_dir)},
            "pg_hba": [
                "local all all trust",
                "host replication all 127.0.0.1/32 trust",
                "host all all 127.0.0.1/32 trust",
            ],
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
    }


def _start_etcd(stack: ExitStack, root: Path, binaries: Binaries, client_port: int) -> None:
    directory = root / "etcd"
    directory.mkdir()
    peer = f"http://127.0.0.1:{free_port()}"
    client = f"http://127.0.0.1:{client_port}"
    command = [
        binaries.etcd,
        "--name=failover",
        f"--data-dir={directory / 'data'}",
        f"--listen-client-urls={client}",
        f"--advertise-client-urls={client}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=failover={peer}",
        "--initial-cluster-state=new",
        "--log-level=warn",
    ]
    with (directory / "etcd.log").open("ab") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log, start_new_session=True)
    stack.callback(_stop, process)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with _HTTP.open(f"{client}/health", timeout=1) as answer:
                if json.loads(answer.read()).get("health") == "true":
                    return
        except (OSError, ValueError):
            pass  # not listening yet, or answering before its health is JSON
        if process.poll() is not None:
            break
        time.sleep(0.1)
    raise RuntimeError(f"etcd did not start: {(directory / 'etcd.log').read_text(errors='replace')}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _start_member(cluster: PatroniCluster, member: Member, owner: tuple[int, int] | None) -> None:
    import yaml  # Patroni's own dependency

    member.directory.mkdir()
    socket_dir = member.directory / "socket"
    socket_dir.mkdir()
    config = member.directory / "patroni.yml"
    config.write_text(yaml.safe_dump(_member_config(cluster, member, socket_dir)))
    if owner is not None:
        for path in (member.directory, socket_dir, config):
            os.chown(path, *owner)
    env = {"PATH": SYSTEM_PATH, "HOME": str(member.directory), "LANG": "C.UTF-8"}
    user = {"user": owner[0], "group": owner[1], "extra_groups": []} if owner is not None else {}
    with (member.directory / "patroni.log").open("ab") as log:
        if owner is not None:
            os.chown(member.directory / "patroni.log", *owner)
        member.process = subprocess.Popen(
            [cluster.binaries.patroni, str(config)],
            stdout=log,
            stderr=log,
            env=env,
            cwd=member.directory,
            start_new_session=True,
            **user,  # type: ignore[arg-type]
        )


@contextmanager
def patroni_cluster(members: int = 2, binaries: Binaries | None = None) -> Iterator[PatroniCluster]:
    """etcd and `members` Patroni members in a temporary directory of their own (/tmp/failover-*,
    which the `postgres` user may enter, unlike pytest's), the first one bootstrapping the
    primary; yields once a primary takes writes and every replica streams synchronously. All
    stopped and removed on exit."""
    binaries = binaries or require_patroni()
    owner = _run_as()
    root = Path(tempfile.mkdtemp(prefix="failover-patroni-"))
    if owner is not None:
        os.chown(root, *owner)
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        cluster = PatroniCluster(root=root, binaries=binaries, etcd_port=free_port())
        _start_etcd(stack, root, binaries, cluster.etcd_port)
        stack.callback(cluster.stop)
        for index in range(members):
            name = f"pg{index}"
            member = Member(name, root / name, pg_port=free_port(), rest_port=free_port())
            cluster.members[name] = member
            _start_member(cluster, member, owner)
            if index == 0:
                cluster.wait_leader(timeout=120)  # the first bootstraps; the others clone from it
        cluster.wait_streaming(timeout=120)
        yield cluster


@pytest.fixture(scope="module")
def patroni() -> Iterator[PatroniCluster]:
    """A two-member cluster for a test module (skipped without the binaries, unless CI=true)."""
    with patroni_cluster(members=2) as cluster:
        yield cluster
