"""sd_notify and the watchdog (appliance/ops/systemd.py), and the real `appliance serve`, `worker`
and `scheduler` telling a service manager how they are doing: the test binds the datagram socket
systemd would, and reads what the processes send to it."""

from __future__ import annotations

import logging
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from appliance.ops.systemd import (
    Watchdog,
    notify,
    notify_ready,
    notify_socket_address,
    notify_status,
    notify_stopping,
    watchdog_interval,
)
from tests.support.live import ADMIN_EMAIL, REPO_ROOT, appliance_command, appliance_env, free_port, run_command

pytestmark = pytest.mark.timeout(180)

#: How `appliance serve` ends after a clean shutdown on SIGTERM: uvicorn raises the signal again
#: once it has shut down, and systemd counts SIGTERM as a clean exit of a service.
CLEAN_EXIT_SIGNAL = -signal.SIGTERM
LITERT_XNNPACK_LINE = "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."


class NotifyListener:
    """The datagram socket a service manager listens on; `address` is what NOTIFY_SOCKET says."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(notify_socket_address(address))
        self.received: list[list[str]] = []

    def next(self, timeout: float) -> list[str] | None:
        """The next datagram's assignments, or None when none came within `timeout` seconds."""
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(4096)
        except TimeoutError:
            return None
        self.received.append(data.decode().split("\n"))
        return self.received[-1]

    def wait_for(self, assignment: str, timeout: float) -> list[str]:
        """Datagrams until one holds `assignment`; that one."""
        deadline = time.monotonic() + timeout
        while (remaining := deadline - time.monotonic()) > 0:
            message = self.next(remaining)
            if message is not None and assignment in message:
                return message
        raise AssertionError(f"no {assignment} within {timeout} s; received {self.received}")

    def statuses(self) -> list[str]:
        return [line[len("STATUS=") :] for message in self.received for line in message if line.startswith("STATUS=")]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[NotifyListener]:
    bound = NotifyListener(str(tmp_path / "notify.sock"))
    yield bound
    bound.close()


# The protocol ------------------------------------------------------------------------------------


def test_notify_socket_addresses() -> None:
    assert notify_socket_address("/run/systemd/notify") == "/run/systemd/notify"
    assert notify_socket_address("@appliance/notify") == "\0appliance/notify"
    for bad in ("relative/path", "@", "vsock:2:1234"):
        with pytest.raises(ValueError, match="neither an absolute path nor an abstract"):
            notify_socket_address(bad)


def test_assignments_go_in_one_datagram(listener: NotifyListener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    assert notify_ready("listening on\nhttp://127.0.0.1:1")
    assert notify_status("loading models")
    assert notify_stopping()
    assert [listener.next(1) for _ in range(3)] == [
        ["READY=1", "STATUS=listening on http://127.0.0.1:1"],  # STATUS is one line
        ["STATUS=loading models"],
        ["STOPPING=1", "STATUS=stopping"],
    ]


def test_an_abstract_socket_is_reached() -> None:
    abstract = NotifyListener(f"@appliance-test-{uuid.uuid4().hex}")
    try:
        assert notify("READY=1", environ={"NOTIFY_SOCKET": abstract.address})
        assert abstract.next(1) == ["READY=1"]
    finally:
        abstract.close()


def test_without_notify_socket_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    assert notify_ready("listening") is False


def test_a_socket_nobody_listens_on_is_logged_not_raised(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="appliance.ops.systemd"):
        assert notify("READY=1", environ={"NOTIFY_SOCKET": str(tmp_path / "gone.sock")}) is False
    assert "could not notify the service manager" in caplog.text


def test_a_manager_that_does_not_read_never_blocks_the_service(listener: NotifyListener) -> None:
    """A full socket queue (10 datagrams by default) loses pings; before, the service hung in
    send() and could not even stop (seen once as a scheduler deaf to SIGTERM)."""
    environ = {"NOTIFY_SOCKET": listener.address}
    sent = [notify("WATCHDOG=1", environ=environ) for _ in range(2000)]
    assert sent[0] is True and sent[-1] is False  # queued at first, dropped once the queue is full
    assert listener.wait_for("WATCHDOG=1", timeout=1)


def test_watchdog_interval_is_half_of_watchdog_usec_for_the_watched_process() -> None:
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "2000000"}) == 1.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=42) == 15.0
    assert watchdog_interval({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, pid=43) is None  # inherited
    for usec in ("0", "-5", "1.5", "soon"):
        assert watchdog_interval({"WATCHDOG_USEC": usec}) is None


def test_the_watchdog_pings_at_most_once_per_interval(listener: NotifyListener, monkeypatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", listener.address)
    watchdog = Watchdog(0.3)
    watchdog.tick()
    watchdog.tick()  # too early: no second ping
    assert listener.next(1) == ["WATCHDOG=1"] and listener.next(0.1) is None
    time.sleep(0.3)
    watchdog.tick()
    assert listener.next(1) == ["WATCHDOG=1"]
    assert watchdog.max_sleep(60) == 0.15 and watchdog.max_sleep(0.1) == 0.1
    Watchdog(None).tick()  # off: nothing sent
    assert Watchdog(None).max_sleep(60) == 60 and listener.next(0.1) is None


# The real processes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def initialised(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of an appliance after `appliance init` (database, models, ADMIN)."""
    env = appliance_env(tmp_path_factory.mktemp("appliance"), free_port())
    init = run_command(env, "init", "--admin-email", ADMIN_EMAIL)
    assert init.returncode == 0, init.stderr
    return env


def _start(env: dict[str, str], log: Path, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        appliance_command(*args),
        env={**env, **extra_env},
        cwd=REPO_ROOT,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _stop(process: subprocess.Popen[bytes], sig: signal.Signals) -> int:
    process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise


def test_the_api_is_ready_when_it_answers_pings_the_watchdog_and_says_stopping(
    initialised: dict[str, str], listener: NotifyListener, tmp_path: Path
) -> None:
    port = initialised["APPLIANCE_API__PORT"]
    log = tmp_path / "api.log"
    api = _start(initialised, log, "serve", NOTIFY_SOCKET=listener.address, WATCHDOG_USEC="2000000")
    try:
        ready = listener.wait_for("READY=1", timeout=90)
        # READY means answering: the first request after it, without a retry, gets through
        assert httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=10).status_code == 200
        assert f"STATUS=listening on http://127.0.0.1:{port}" in ready
        assert listener.statuses()[:2] == ["opening the database", "loading models"]
        assert '"model loaded: dlib-resnet' in log.read_text()  # loaded before READY, not at first use
        pings_after_ready = 0
        deadline = time.monotonic() + 5
        while pings_after_ready < 2 and time.monotonic() < deadline:
            pings_after_ready += listener.next(deadline - time.monotonic()) == ["WATCHDOG=1"]
        assert pings_after_ready >= 2, listener.received
    finally:
        status = _stop(api, signal.SIGTERM)
    assert status == CLEAN_EXIT_SIGNAL, log.read_text()
    assert '"Application shutdown complete."' in log.read_text()
    listener.wait_for("STOPPING=1", timeout=5)


def test_the_api_without_a_service_manager_serves_as_before(initialised: dict[str, str], tmp_path: Path) -> None:
    env = {k: v for k, v in initialised.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "JOURNAL_STREAM")}
    log = tmp_path / "api.log"
    api = _start(env, log, "serve")
    try:
        deadline = time.monotonic() + 90
        while True:
            assert api.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{env['APPLIANCE_API__PORT']}/health/ready", timeout=2).is_success:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
    finally:
        status = _stop(api, signal.SIGTERM)
    assert status == CLEAN_EXIT_SIGNAL
    lines = log.read_text().splitlines()
    assert any('"message": "Application startup complete."' in line for line in lines)
    # JSON lines without journald's level prefixes, as before; LiteRT prints its own line
    assert {line for line in lines if not line.startswith("{")} == {LITERT_XNNPACK_LINE}, lines


@pytest.mark.parametrize(
    ("args", "status", "stop_signal"),
    [
        (("worker", "--queue", "default", "--workers", "1"), "consuming queue default with 1 thread worker(s)", "INT"),
        (
            ("worker", "--queue", "analysis", "--workers", "1"),
            "consuming queue analysis with 1 process worker(s)",
            "INT",
        ),
        (("scheduler",), "enqueueing expire_analyses every 1 s", "TERM"),
    ],
    ids=["worker-threads", "worker-processes", "scheduler"],
)
def test_workers_and_the_scheduler_are_ready_ping_and_say_stopping(
    initialised: dict[str, str],
    listener: NotifyListener,
    tmp_path: Path,
    args: tuple[str, ...],
    status: str,
    stop_signal: str,
) -> None:
    log = tmp_path / "process.log"
    process = _start(initialised, log, *args, NOTIFY_SOCKET=listener.address, WATCHDOG_USEC="1000000")
    try:
        ready = listener.wait_for("READY=1", timeout=60)
        assert any(line.startswith(f"STATUS={status}") for line in ready), ready
        listener.wait_for("WATCHDOG=1", timeout=3)
        listener.wait_for("WATCHDOG=1", timeout=3)
    finally:
        code = _stop(process, signal.Signals[f"SIG{stop_signal}"])
    assert code == 0, log.read_text()
    listener.wait_for("STOPPING=1", timeout=5)
