"""`appliance run`: the API, one worker group per queue and the scheduler as child processes.

A small supervisor for the one-host appliance without systemd: it starts every part, each logging
to `<data_dir>/logs/<part>.log`, prints where the API listens once it answers, and stops
everything (SIGINT first, which lets Huey finish running tasks) when it is told to stop or when any
part dies, printing the end of that part's log.

One `appliance run` per data directory: it holds `<data_dir>/run.lock` (run_lock.py) while it
runs, and a second one is refused in one line before it starts anything (its API could not
listen, and its scheduler would only stand by: schedulers elect one, docs/scaling.md).
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from appliance.cli.run_lock import hold_run_lock
from appliance.core.queues import QUEUE_NAMES
from appliance.ops.settings import Settings

__all__ = ["run_all"]

_STOP_GRACE_SECONDS = 20.0


#: Lines of a part's log shown when it dies.
_TAIL_LINES = 20


@dataclass(slots=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        lines = self.log.read_text(errors="replace").splitlines()[-_TAIL_LINES:]
        return "\n".join(f"  {line}" for line in lines)


def _start(name: str, command: list[str], log_dir: Path) -> _Child:
    """A part of the appliance, its output appended to `<log_dir>/<name>.log`."""
    log = log_dir / f"{name}.log"
    with log.open("ab") as output:
        return _Child(name, subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT), log)


def _commands(analysis_workers: int) -> list[tuple[str, list[str]]]:
    base = [sys.executable, "-m", "appliance.cli"]
    commands = [("api", [*base, "serve"]), ("scheduler", [*base, "scheduler"])]
    for queue in QUEUE_NAMES:
        workers = analysis_workers if queue == "analysis" else 2
        commands.append((f"worker-{queue}", [*base, "worker", "--queue", queue, "--workers", str(workers)]))
    return commands


def _wait_until_listening(url: str, child: _Child, timeout: float = 60.0) -> bool:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines are not the appliance's news
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.process.poll() is None:
        try:
            if httpx.get(f"{url}/health/live", timeout=1.0).status_code == 200:
                return True
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    return False


def _stop(children: list[_Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(signal.SIGINT)
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    for child in children:
        try:
            child.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def _refuse_taken_port(host: str, port: int) -> None:
    """Say so before starting anything when another program listens on the API's address."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise ValueError(
                f"{host}:{port} is taken by another program: stop it, or set APPLIANCE_API__PORT to a free port"
            ) from None


def run_all(settings: Settings, analysis_workers: int) -> int:
    """Run until SIGINT/SIGTERM or until a part exits; the exit status to return."""
    with hold_run_lock(settings.data_path, _api_url(settings)):
        _refuse_taken_port(settings.api.host, settings.api.port)
        return _supervise(settings, analysis_workers)


def _api_url(settings: Settings) -> str:
    return f"http://{settings.api.host}:{settings.api.port}"


def _supervise(settings: Settings, analysis_workers: int) -> int:
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log_dir = settings.data_path / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    children = [_start(name, cmd, log_dir) for name, cmd in _commands(analysis_workers)]
    print(f"Each part logs to {log_dir}/<part>.log (api, scheduler, worker-<queue>).", flush=True)
    url = _api_url(settings)
    try:
        if not _wait_until_listening(url, children[0]):
            print(f"appliance: the API did not start; the end of {children[0].log}:", file=sys.stderr)
            print(children[0].tail(), file=sys.stderr)
            return 1
        print(f"Appliance listening on {url} (API docs: {url}/docs). Stop with Ctrl-C.", flush=True)
        while not stopping:
            dead = [c for c in children if c.process.poll() is not None]
            if dead:
                child = dead[0]
                print(
                    f"appliance: {child.name} exited with status {child.process.returncode}; stopping."
                    f" The end of {child.log}:",
                    file=sys.stderr,
                )
                print(child.tail(), file=sys.stderr)
                return 1
            time.sleep(0.5)
        return 0
    finally:
        _stop(children)
