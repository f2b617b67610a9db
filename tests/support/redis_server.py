"""The test Redis: `APPLIANCE_TEST_REDIS_URL` (default redis://127.0.0.1:6379/0).

`require_redis()` skips a test when Redis does not answer, except in CI (`CI=true`), where it
fails it. `delete_queue_keys(url, prefix)` removes what a test's queues left behind.
`redis_on_unix_socket(directory)` runs a redis-server of the test's own on a unix socket.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

__all__ = ["delete_queue_keys", "redis_on_unix_socket", "redis_url", "require_redis"]

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redis_url() -> str:
    return os.environ.get("APPLIANCE_TEST_REDIS_URL") or DEFAULT_URL


def require_redis(url: str | None = None) -> str:
    url = url or redis_url()
    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = f"Redis not reachable at {url} ({exc}); set APPLIANCE_TEST_REDIS_URL"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    finally:
        client.close()
    return url


def delete_queue_keys(url: str, prefix: str) -> None:
    """Delete the Huey keys of queues named with `prefix`."""
    client = redis.Redis.from_url(url)
    try:
        keys = list(client.scan_iter(match=f"huey.*{prefix}*"))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@contextmanager
def redis_on_unix_socket(directory: Path, timeout: float = 10.0) -> Iterator[str]:
    """A redis-server (no TCP, nothing persisted) listening on a socket in `directory`; yields
    its URL. A socket in a directory works from every network namespace of the machine.
    FileNotFoundError when redis-server is not installed."""
    server = shutil.which("redis-server")
    if server is None:
        raise FileNotFoundError("redis-server is not installed")
    directory.mkdir(parents=True, exist_ok=True)
    socket_path = directory / "redis.sock"
    url = f"unix://{socket_path}?db=0"
    arguments = ["--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
    arguments += ["--save", "", "--appendonly", "no", "--dir", str(directory)]
    with (directory / "redis.log").open("ab") as log:
        process = subprocess.Popen([server, *arguments], stdout=log, stderr=log)
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"redis-server did not start: {(directory / 'redis.log').read_text()}") from None
                time.sleep(0.05)
        client.close()
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
