"""The test Redis: `APPLIANCE_TEST_REDIS_URL` (default redis://127.0.0.1:6379/0).

`require_redis()` skips a test when Redis does not answer, except in CI (`CI=true`), where it
fails it. `delete_queue_keys(url, prefix)` removes what a test's queues left behind.
"""

from __future__ import annotations

import os

import pytest
import redis

__all__ = ["delete_queue_keys", "redis_url", "require_redis"]

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
