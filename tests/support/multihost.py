"""Several hosts of one installation on this machine (docs/two-hosts.md, docs/scaling.md).

    with hosts_of_one_installation(tmp_path, ["api-1", "work-1"], api_hosts=["api-1"]) as site:
        site.hosts["api-1"].start_process("api", "serve")       # a LiveAppliance per host
        site.network.mode                                        # which separation ran

Each host is a process group of its own (a `LiveAppliance` started with `own_process_group`, so
that killing the group kills the host), with its own data directory and host name, all on one
fresh PostgreSQL database and one Redis, media and models in one directory standing in for the
NFS share. `appliance init` runs on the first host; its config file (the secrets) is copied to
the others, as an operator would.

Where the machine allows it (root, `ip netns`), each host also gets a network namespace of its own
(tests/support/netns.py): API hosts listen on their address on a private network, PostgreSQL and
Redis are reached through unix sockets (which cross network namespaces, where 127.0.0.1 is each
namespace's own), and the test's own servers listen on the gateway. Elsewhere the hosts are plain
process groups on one loopback, against the test PostgreSQL and Redis over TCP; under CI=true it
must be the namespace mode.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.live import ADMIN_EMAIL, LiveAppliance, appliance_env, free_port, run_command
from tests.support.netns import NamespacesUnavailable, private_network
from tests.support.postgres import create_database, drop_database, require_server, unix_socket_url
from tests.support.redis_server import delete_queue_keys, redis_on_unix_socket, require_redis
from tests.support.webhooks import allowed_targets_env

__all__ = [
    "NAMESPACE_MODE",
    "Network",
    "Site",
    "assert_hosts_are_apart",
    "host_network",
    "hosts_of_one_installation",
    "kill_host",
]

NAMESPACE_MODE = "network namespaces"


@dataclass(frozen=True, slots=True)
class Network:
    """How the hosts are separated and how they reach the shared services."""

    mode: str
    #: Where the test's own servers listen so that every host reaches them.
    gateway: str
    #: host name -> (command prefix that runs a process on that host, the host's address)
    hosts: dict[str, tuple[tuple[str, ...], str]]
    database_url: str
    redis_url: str


@dataclass(frozen=True, slots=True)
class Site:
    network: Network
    #: One per host, by name, none of its processes started. An API host's `base_url` is its own
    #: API; the others' is the first API host's.
    hosts: dict[str, LiveAppliance]
    #: The directory standing in for the NFS share (media and models).
    shared: Path
    #: The database as the test (in the root namespace) reaches it.
    database_url: str


def _namespaces(stack: ExitStack, tmp_path: Path, database: str, names: Sequence[str]) -> Network:
    """Each host in a network namespace; NamespacesUnavailable (with nothing left behind) if the machine refuses."""
    with ExitStack() as attempt:
        network = attempt.enter_context(private_network(names))
        database_url = unix_socket_url(database)
        if database_url is None:
            raise NamespacesUnavailable("PostgreSQL has no unix socket this test may connect through")
        try:
            redis_url = attempt.enter_context(redis_on_unix_socket(tmp_path / "redis"))
        except FileNotFoundError as exc:
            raise NamespacesUnavailable(str(exc)) from exc
        stack.enter_context(attempt.pop_all())
    hosts = {name: (host.launcher, host.address) for name, host in network.hosts.items()}
    return Network(NAMESPACE_MODE, network.gateway, hosts, database_url, redis_url)


def _process_groups(database: str, reason: str, names: Sequence[str]) -> Network:
    """Every host on this machine's loopback, against the test PostgreSQL and Redis over TCP."""
    redis_url = require_redis()
    hosts = {name: ((), "127.0.0.1") for name in names}
    return Network(f"process groups only ({reason})", "127.0.0.1", hosts, database, redis_url)


def host_network(stack: ExitStack, tmp_path: Path, database: str, names: Sequence[str]) -> Network:
    """Network namespaces where the machine allows them, else process groups (not under CI)."""
    try:
        return _namespaces(stack, tmp_path, database, names)
    except NamespacesUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI machines allow network namespaces, this one did not: {exc}")
        return _process_groups(database, str(exc), names)


@contextmanager
def hosts_of_one_installation(
    tmp_path: Path, names: Sequence[str], *, api_hosts: Sequence[str], prefix: str = "hosts", **settings: str
) -> Iterator[Site]:
    """A fresh database and queue prefix, `appliance init` on the first host, a `LiveAppliance` per
    host (see the module's docstring); `settings` are APPLIANCE_* variables (without the prefix)
    of every host. Every process is stopped, and the database dropped, on exit."""
    assert api_hosts and set(api_hosts) <= set(names)
    with ExitStack() as stack:
        server = require_server()
        database = create_database(server)
        stack.callback(drop_database, database, server)
        network = host_network(stack, tmp_path, database, names)
        queue_prefix = f"{prefix}{uuid.uuid4().hex[:8]}"
        stack.callback(delete_queue_keys, network.redis_url, queue_prefix)
        shared = tmp_path / "nfs"
        port = free_port()
        api_url = {name: f"http://{network.hosts[name][1]}:{port}" for name in api_hosts}
        common = {
            "DATABASE_URL": network.database_url,
            "QUEUE__BACKEND": "redis",
            "QUEUE__REDIS_URL": network.redis_url,
            "QUEUE__NAME_PREFIX": queue_prefix,
            "STORAGE_ROOT": str(shared / "media"),
            "MODELS_ROOT": str(shared / "models"),
            "API__PUBLIC_BASE_URL": api_url[api_hosts[0]],  # where a balancer would stand
            **allowed_targets_env(network.gateway),  # a webhook receiver of the test, on the private network
            **settings,
        }
        hosts: dict[str, LiveAppliance] = {}
        for name in names:
            launcher, address = network.hosts[name]
            data_dir = tmp_path / name
            listen = {"API__HOST": address} if name in api_hosts else {}
            env = appliance_env(data_dir, port, HOST_NAME=name, **listen, **common)
            if not hosts:
                init = run_command(env, "init", "--admin-email", ADMIN_EMAIL, launcher=launcher)
                assert init.returncode == 0, init.stderr
                first = data_dir
            else:
                # The operator copies the first host's config file (its secrets sign media URLs
                # and webhooks) to every other host.
                data_dir.mkdir(parents=True)
                shutil.copy(first / "appliance.toml", data_dir / "appliance.toml")
            (data_dir / "logs").mkdir(parents=True, exist_ok=True)
            host = LiveAppliance(
                api_url.get(name, api_url[api_hosts[0]]),
                env,
                data_dir,
                log_dir=data_dir / "logs",
                launcher=launcher,
                own_process_group=True,
            )
            stack.callback(host.stop)
            hosts[name] = host
        yield Site(network, hosts, shared, database)


def _network_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def assert_hosts_are_apart(network: Network, hosts: dict[str, LiveAppliance]) -> None:
    """Each host is one process group of its own (and, in the namespace mode, one network
    namespace of its own), none of them the test's."""
    groups = {name: {os.getpgid(p.pid) for p in host.processes.values()} for name, host in hosts.items()}
    assert all(len(g) == 1 for g in groups.values()), groups
    assert len({next(iter(g)) for g in groups.values()}) == len(hosts), groups
    assert os.getpgid(0) not in set().union(*groups.values())
    if network.mode == NAMESPACE_MODE:
        namespaces = {
            name: {_network_namespace(p.pid) for p in host.processes.values()} for name, host in hosts.items()
        }
        assert all(len(n) == 1 for n in namespaces.values()), namespaces
        assert len({next(iter(n)) for n in namespaces.values()}) == len(hosts), namespaces
        assert _network_namespace(os.getpid()) not in set().union(*namespaces.values())


def kill_host(host: LiveAppliance) -> None:
    """Every process of `host` killed at once (SIGKILL to its process group), as a host that dies."""
    assert host.own_process_group and host.processes
    leader = next(iter(host.processes.values()))  # the first process leads the host's group
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader.pid, signal.SIGKILL)
    for process in host.processes.values():
        process.wait(timeout=10)
