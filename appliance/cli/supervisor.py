"""`appliance run`: the API, one worker group per queue and the scheduler as child processes.

A small supervisor for the one-host appliance without systemd: it starts every part, prints
where the API listens once it answers, and stops everything (SIGINT first, which lets Huey
finish running tasks) when it is told to stop or when any part dies.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from dataclasses import dataclass

import httpx

from appliance.ops.settings import Settings
from appliance.queue.queues import QUEUE_NAMES

__all__ = ["run_all"]

_STOP_GRACE_SECONDS = 20.0


@dataclass(slots=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]


def _commands(analysis_workers: int) -> list[tuple[str, list[str]]]:
    base = [sys.executable, "-m", "appliance.cli"]
    commands = [("api", [*base, "serve"]), ("scheduler", [*base, "scheduler"])]
    for queue in QUEUE_NAMES:
        workers = analysis_workers if queue == "analysis" else 2
        commands.append((f"worker-{queue}", [*base, "worker", "--queue", queue, "--workers", str(workers)]))
    return commands


def _wait_until_listening(url: str, child: _Child, timeout: float = 60.0) -> bool:
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


def run_all(settings: Settings, analysis_workers: int) -> int:
    """Run until SIGINT/SIGTERM or until a part exits; the exit status to return."""
    stopping = False

    def request_stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    children = [_Child(name, subprocess.Popen(cmd)) for name, cmd in _commands(analysis_workers)]
    url = f"http://{settings.api.host}:{settings.api.port}"
    try:
        if not _wait_until_listening(url, children[0]):
            print("appliance: the API did not start; see the messages above", file=sys.stderr)
            return 1
        print(f"Appliance listening on {url} (API docs: {url}/docs). Stop with Ctrl-C.", flush=True)
        while not stopping:
            dead = [c for c in children if c.process.poll() is not None]
            if dead:
                print(
                    f"appliance: {dead[0].name} exited with status {dead[0].process.returncode}; stopping",
                    file=sys.stderr,
                )
                return 1
            time.sleep(0.5)
        return 0
    finally:
        _stop(children)
