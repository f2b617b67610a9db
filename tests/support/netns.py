"""Network namespaces that stand in for separate hosts on one machine.

    with private_network(["host-a", "host-b"]) as network:
        network.hosts["host-a"].launcher   # ("ip", "netns", "exec", NAME): run a command there
        network.hosts["host-a"].address    # its address on the private network
        network.gateway                    # the root namespace's address (the test's own servers)

One bridge in the root namespace holds the gateway address of a private /24 that no route of the
machine uses yet; each host is a namespace with its own loopback and a veth pair into the bridge.
Everything made is removed on exit, whatever happened. Making namespaces needs root and the `ip`
command; where the machine refuses, `private_network` raises `NamespacesUnavailable` with the
reason, having removed what it made.
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["NamespaceHost", "NamespacesUnavailable", "PrivateNetwork", "private_network"]


class NamespacesUnavailable(RuntimeError):
    """This machine cannot make the namespaces (not root, no `ip`, or the kernel refused)."""


@dataclass(frozen=True, slots=True)
class NamespaceHost:
    namespace: str
    address: str

    @property
    def launcher(self) -> tuple[str, ...]:
        return ("ip", "netns", "exec", self.namespace)


@dataclass(frozen=True, slots=True)
class PrivateNetwork:
    gateway: str
    hosts: dict[str, NamespaceHost]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


def _unused_subnet() -> str:
    """`10.a.b` of a /24 that no IPv4 route of this machine touches."""
    routes = subprocess.run(["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True).stdout
    for _ in range(100):
        subnet = f"10.{random.randint(200, 249)}.{random.randint(0, 255)}"
        if f"{subnet}." not in routes:
            return subnet
    raise NamespacesUnavailable("no unused 10.x.y.0/24 subnet found")


def _build(tag: str, names: Sequence[str], subnet: str, undo: list[tuple[str, ...]]) -> PrivateNetwork:
    bridge = f"apbr{tag}"
    _ip("link", "add", bridge, "type", "bridge")
    undo.append(("link", "del", bridge))
    _ip("addr", "add", f"{subnet}.1/24", "dev", bridge)
    _ip("link", "set", bridge, "up")
    hosts = {}
    for index, name in enumerate(names):
        namespace, outer, inner = f"appliance-{tag}-{index}", f"apv{tag}{index}", f"apn{tag}{index}"
        _ip("netns", "add", namespace)
        undo.append(("netns", "del", namespace))  # takes its veth pair along
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        undo.append(("link", "del", outer))  # in case the pair never reached the namespace
        _ip("link", "set", outer, "master", bridge)
        _ip("link", "set", outer, "up")
        _ip("link", "set", inner, "netns", namespace)
        address = f"{subnet}.{index + 2}"
        _ip("-n", namespace, "addr", "add", f"{address}/24", "dev", inner)
        _ip("-n", namespace, "link", "set", inner, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        hosts[name] = NamespaceHost(namespace, address)
    return PrivateNetwork(gateway=f"{subnet}.1", hosts=hosts)


def _remove(undo: list[tuple[str, ...]]) -> None:
    for command in reversed(undo):
        # each step may already be gone with an earlier one (a namespace takes its veth along)
        subprocess.run(["ip", *command], capture_output=True, timeout=30)


@contextmanager
def private_network(names: Sequence[str]) -> Iterator[PrivateNetwork]:
    """One network namespace per name on a private /24 bridged to the root namespace."""
    if os.geteuid() != 0:
        raise NamespacesUnavailable("network namespaces need root")
    if shutil.which("ip") is None:
        raise NamespacesUnavailable("the `ip` command (iproute2) is not installed")
    undo: list[tuple[str, ...]] = []
    try:
        network = _build(secrets.token_hex(3), names, _unused_subnet(), undo)
    except subprocess.CalledProcessError as error:
        _remove(undo)
        raise NamespacesUnavailable(f"`{' '.join(error.cmd)}` failed: {error.stderr.strip()}") from error
    try:
        yield network
    finally:
        _remove(undo)
