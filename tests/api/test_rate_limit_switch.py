"""`rate_limits.enabled` switches the limits off, the limits count in Redis however it is reached
(TCP or a unix socket, as on two hosts), and a store that fails lets requests through uncounted
rather than failing them; over real HTTP, the app served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from appliance.api.app import create_app
from appliance.ops.settings import MetricsSettings, QueueSettings, RateLimitSettings, Settings
from tests.support.redis_server import redis_on_unix_socket

TRIES = 10


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    host, port = sock.getsockname()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the API did not start"
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def settings(directory: Path, **fields: object) -> Settings:
    return Settings(
        data_dir=str(directory), secret_key=uuid.uuid4().hex, metrics=MetricsSettings(enabled=False), **fields
    )


def statuses(base_url: str) -> list[int]:
    with httpx.Client(base_url=base_url, timeout=30) as client:
        return [client.get("/api/folders/").status_code for _ in range(TRIES)]


def test_limits_apply_and_switch_off(tmp_path: Path) -> None:
    low = RateLimitSettings(per_address_per_minute=3)
    with served(settings(tmp_path / "on", rate_limits=low)) as base_url:
        assert statuses(base_url) == [401] * 3 + [429] * (TRIES - 3)
    off = RateLimitSettings(enabled=False, per_address_per_minute=3)
    with served(settings(tmp_path / "off", rate_limits=off)) as base_url:
        assert statuses(base_url) == [401] * TRIES


def test_a_store_that_fails_lets_requests_through(tmp_path: Path) -> None:
    with socket.socket() as closed:  # a port nothing listens on: Redis down
        closed.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{closed.getsockname()[1]}/0"
    down = settings(
        tmp_path,
        rate_limits=RateLimitSettings(per_address_per_minute=3),
        queue=QueueSettings(backend="redis", redis_url=dead),
    )
    with served(down) as base_url:
        assert statuses(base_url) == [401] * TRIES


def test_limits_count_in_redis_on_a_unix_socket(tmp_path: Path) -> None:
    with redis_on_unix_socket(tmp_path / "redis") as redis_url:
        on_redis = settings(
            tmp_path / "data",
            rate_limits=RateLimitSettings(per_address_per_minute=3),
            queue=QueueSettings(backend="redis", redis_url=redis_url),
        )
        with served(on_redis) as base_url:
            assert statuses(base_url) == [401] * 3 + [429] * (TRIES - 3)
