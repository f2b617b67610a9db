"""A real appliance for end-to-end tests: `appliance init`, then the API server, the queue
workers and the scheduler as separate processes, talking over real HTTP on a free port.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from appliance_client import ApiError, Client

REPO_ROOT = Path(__file__).resolve().parents[2]
ADMIN_EMAIL = "admin@appliance.test"
ADMIN_PASSWORD = "admin-password-1"
QUEUES = ("default", "maintenance", "analysis", "resolution", "preview")


def appliance_command(*args: str, launcher: tuple[str, ...] = ()) -> list[str]:
    """The command line of `appliance ARGS` with this interpreter, `launcher` put before it."""
    return [*launcher, sys.executable, "-m", "appliance.cli", *args]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveAppliance:
    base_url: str
    env: dict[str, str]
    data_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    log_dir: Path | None = None
    #: Put before every command (e.g. `ip netns exec NAME` to run it in a network namespace).
    launcher: tuple[str, ...] = ()
    #: Run every process in one process group of its own (a host), which `stop` ends as a whole.
    own_process_group: bool = False

    def client(self, token: str | None = None, timeout: float = 30.0) -> httpx.Client:
        headers = {"X-Forensic-Access-Token": token} if token else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout)

    def api(self, token: str | None = None, timeout: float = 60.0) -> Client:
        """The typed Python client an integrator uses (clients/python), on this appliance."""
        return Client(self.base_url, token=token, timeout=timeout)

    def login(self, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> str:
        with self.api() as api:
            try:
                return api.login(email, password).access_token
            except ApiError as exc:
                raise AssertionError(f"login as {email} refused: {exc}") from None

    def start_process(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        assert self.log_dir is not None
        log = (self.log_dir / f"{name}.log").open("ab")
        group = {"process_group": self._process_group_id()} if self.own_process_group else {}
        process = subprocess.Popen(
            appliance_command(*args, launcher=self.launcher),
            env=self.env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=log,
            **group,
        )
        self.processes[name] = process
        return process

    def _process_group_id(self) -> int:
        """0 (a new group, led by the process) for the first process; the first one's group after."""
        first = next(iter(self.processes.values()), None)
        return first.pid if first is not None else 0

    def logs(self, tail: int | None = 4000) -> str:
        """The processes' logs, each cut to its last `tail` characters (None: whole)."""
        assert self.log_dir is not None
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-tail if tail else 0 :]}"
            for p in sorted(self.log_dir.glob("*.log"))
        )

    def stop(self, graceful: bool = True) -> None:
        """SIGINT lets workers finish running tasks; SIGTERM stops them at once."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT if graceful else signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.own_process_group and self.processes:
            # whatever the processes left behind (a killed consumer's worker processes)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process_group_id(), signal.SIGKILL)

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            api = self.processes["api"]
            if api.poll() is not None:
                raise RuntimeError(f"the API exited with {api.returncode}\n{self.logs()}")
            try:
                if httpx.get(f"{self.base_url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass  # not listening yet
            time.sleep(0.2)
        raise RuntimeError(f"the appliance did not become ready\n{self.logs()}")


def run_command(
    env: dict[str, str], *args: str, launcher: tuple[str, ...] = (), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """One `appliance` command run to its end (`launcher` put before it), its output captured."""
    return subprocess.run(
        appliance_command(*args, launcher=launcher),
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def appliance_env(data_dir: Path, port: int, pythonpath: tuple[Path, ...] = (), **settings: str) -> dict[str, str]:
    """Environment of an appliance in `data_dir`; `settings` are extra APPLIANCE_* variables
    without the prefix (e.g. DATABASE_URL, QUEUE__BACKEND); `pythonpath` adds import paths
    (where a test installed a plugin distribution)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(
        {
            "APPLIANCE_DATA_DIR": str(data_dir),
            "APPLIANCE_API__PORT": str(port),
            "APPLIANCE_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "APPLIANCE_PLUGIN_MODULES": json.dumps(["tests.plugins.brightness_plugin"]),
            "APPLIANCE_QUEUE__NAME_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
            "APPLIANCE_SCHEDULER__EXPIRY_CHECK_SECONDS": "1",
            "APPLIANCE_SCHEDULER__WEBHOOK_CHECK_SECONDS": "1",
            "APPLIANCE_WEBHOOKS__RETRY_DELAY_SECONDS": "1",
            "APPLIANCE_ANALYSIS__RETRY_DELAY_SECONDS": "1",
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(REPO_ROOT), *map(str, pythonpath), os.environ.get("PYTHONPATH", "")])
            ),
        }
    )
    env.update({f"APPLIANCE_{k.upper()}": v for k, v in settings.items()})
    return env


@functools.cache
def _initialised_data_dir() -> Path:
    """A data directory `appliance init` made once for the test session: config, site key, the
    default bundle built, signed, canaried and installed, the database with its ADMIN."""
    template = Path(tempfile.mkdtemp(prefix="appliance-init-"))
    atexit.register(shutil.rmtree, template, ignore_errors=True)
    init = run_command(appliance_env(template, free_port()), "init", "--admin-email", ADMIN_EMAIL)
    assert init.returncode == 0, init.stderr
    return template


def _init(env: dict[str, str], data_dir: Path) -> None:
    """`appliance init` in `data_dir`, started from a copy of the session's initialised directory
    when `data_dir` is new: init then only checks what is there (the default bundle active, the
    database migrated, an ADMIN), which saves building and installing the bundle for every test.
    tests/e2e/test_cli.py runs the first init itself."""
    if not data_dir.exists() or not any(data_dir.iterdir()):
        shutil.copytree(_initialised_data_dir(), data_dir, symlinks=True, dirs_exist_ok=True)
    init = run_command(env, "init", "--admin-email", ADMIN_EMAIL)
    assert init.returncode == 0, init.stderr


@contextmanager
def running_appliance(
    data_dir: Path,
    *,
    workers: dict[str, int] | None = None,
    scheduler: bool = True,
    pythonpath: tuple[Path, ...] = (),
    graceful_stop: bool = True,
    before_start: Callable[[LiveAppliance], None] | None = None,
    **settings: str,
) -> Iterator[LiveAppliance]:
    """`appliance init`, then `before_start` (e.g. models installed), then API, workers (queue ->
    count; default one per queue) and scheduler."""
    port = free_port()
    env = appliance_env(data_dir, port, pythonpath, **settings)
    live = LiveAppliance(base_url=f"http://127.0.0.1:{port}", env=env, data_dir=data_dir, log_dir=data_dir / "logs")
    _init(env, data_dir)
    live.log_dir.mkdir(parents=True, exist_ok=True)
    if before_start is not None:
        before_start(live)
    try:
        live.start_process("api", "serve")
        for queue, count in (workers if workers is not None else {q: 1 for q in QUEUES}).items():
            live.start_process(f"worker-{queue}", "worker", "--queue", queue, "--workers", str(count))
        if scheduler:
            live.start_process("scheduler", "scheduler")
        live.wait_ready()
        yield live
    finally:
        live.stop(graceful_stop)


def child_pids(pid: int) -> list[int]:
    """Processes whose parent is `pid`, read from /proc."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended while we looked
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def folder_media_ids(client: httpx.Client) -> list[tuple[str, list[str]]]:
    """Every folder with its media ids: what an upload adds, without the signed links that change each second."""
    listing = client.get("/api/folders", params={"limit": 1000}).json()
    return [(folder["folder_id"], [media["media_id"] for media in folder["media"]]) for folder in listing["items"]]


def poll_folder(client: httpx.Client, folder_id: str, timeout: float = 90.0) -> dict[str, Any]:
    """GET the folder with analyses until its status is final."""
    deadline = time.monotonic() + timeout
    while True:
        folder = client.get(f"/api/folders/{folder_id}", params={"with_analyses": "true"}).json()
        if folder["resolution_status"] in ("FINISHED", "FAILED") or time.monotonic() > deadline:
            return folder
        time.sleep(0.2)
