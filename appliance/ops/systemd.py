"""Telling systemd how the process is doing: the sd_notify protocol and the watchdog.

systemd hands a `Type=notify` service a datagram socket in `NOTIFY_SOCKET`; the service sends it
newline-separated assignments (sd_notify(3)): `READY=1` once it serves, `STATUS=...` for
`systemctl status`, `WATCHDOG=1` at least once per `WATCHDOG_USEC` when the unit sets
`WatchdogSec=`, and `STOPPING=1` when it begins to shut down. The protocol is documented as
stable and meant to be reimplemented, so this is a plain AF_UNIX socket: no libsystemd, no C
build. Without `NOTIFY_SOCKET` (a terminal, a container, `appliance run`) every call is a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

__all__ = [
    "Watchdog",
    "notify",
    "notify_ready",
    "notify_status",
    "notify_stopping",
    "notify_socket_address",
    "watchdog_interval",
]

log = logging.getLogger(__name__)


def notify_socket_address(value: str) -> str:
    """The address to send to for a `NOTIFY_SOCKET` value: an absolute path, or an abstract
    socket written `@name` (sent as a leading NUL byte). ValueError for anything else (systemd
    254's `vsock:` addresses included: the units allow only AF_UNIX, AF_INET and AF_INET6)."""
    if value.startswith("@") and len(value) > 1:
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    raise ValueError(f"NOTIFY_SOCKET {value!r} is neither an absolute path nor an abstract @name")


def notify(*assignments: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send `assignments` ("READY=1", "STATUS=...") to the service manager in one datagram.

    False when there is no service manager to tell (`NOTIFY_SOCKET` unset) or when sending
    failed; a failure is logged, never raised: the service keeps serving, and systemd acts on
    what it did not hear (a start timeout, a watchdog restart). The send never blocks: a manager
    that does not read (a full socket queue, 10 datagrams by default) loses a ping rather than
    hanging the service's loop, which could then not even stop.
    """
    target = (os.environ if environ is None else environ).get("NOTIFY_SOCKET", "")
    if not target:
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.setblocking(False)
            sock.connect(notify_socket_address(target))
            sock.send("\n".join(assignments).encode())
    except (OSError, ValueError) as exc:
        log.warning("could not notify the service manager at %s: %s", target, exc)
        return False
    return True


def _status(text: str) -> str:
    return "STATUS=" + " ".join(text.split())  # one line, as `systemctl status` shows it


def notify_status(text: str) -> bool:
    """What the service is doing, for `systemctl status` (e.g. "loading models")."""
    return notify(_status(text))


def notify_ready(status: str) -> bool:
    """The service serves now (its unit becomes active), with what `systemctl status` shows."""
    return notify("READY=1", _status(status))


def notify_stopping(status: str = "stopping") -> bool:
    """The service begins to shut down."""
    return notify("STOPPING=1", _status(status))


def watchdog_interval(environ: Mapping[str, str] | None = None, pid: int | None = None) -> float | None:
    """Seconds between two `WATCHDOG=1` pings of this process, or None when the watchdog is off.

    Half of `WATCHDOG_USEC`, as sd_watchdog_enabled(3) advises. Off when `WATCHDOG_USEC` is unset,
    not a positive integer, or when `WATCHDOG_PID` names another process (the variables were
    inherited from a parent that is the one being watched).
    """
    env = os.environ if environ is None else environ
    usec, watched_pid = env.get("WATCHDOG_USEC", ""), env.get("WATCHDOG_PID", "")
    if not usec:
        return None
    if not usec.isdigit() or int(usec) == 0 or (watched_pid and not watched_pid.isdigit()):
        log.warning("watchdog off: WATCHDOG_USEC=%r WATCHDOG_PID=%r are not valid", usec, watched_pid)
        return None
    if watched_pid and int(watched_pid) != (os.getpid() if pid is None else pid):
        return None
    return int(usec) / 2_000_000


class Watchdog:
    """`WATCHDOG=1` at most once per `interval`, from the loop whose progress proves the process alive.

    Call `tick()` from that loop (the API's event loop, the queue consumer's main loop, the
    scheduler's clock) at least every `max_sleep(...)`: when the loop hangs, the pings stop and
    systemd kills and restarts the service after `WatchdogSec=`.
    """

    def __init__(self, interval: float | None) -> None:
        self.interval = interval
        self._last_ping: float | None = None

    @classmethod
    def from_environment(cls) -> Watchdog:
        return cls(watchdog_interval())

    def tick(self) -> None:
        """Ping if the last ping is at least `interval` ago (or there was none)."""
        if self.interval is None:
            return
        now = time.monotonic()
        if self._last_ping is None or now - self._last_ping >= self.interval:
            notify("WATCHDOG=1")
            self._last_ping = now

    def max_sleep(self, seconds: float) -> float:
        """How long a loop may sleep before its next `tick()`: `seconds`, cut to half the interval
        so that a ping is never later than 1.5 intervals (three quarters of WATCHDOG_USEC)."""
        return seconds if self.interval is None else min(seconds, self.interval / 2)
