"""Rate limits per access token and per source address (429, RATE_LIMITED with Retry-After).

Litestar's RateLimitMiddleware counts requests in windows of a minute, twice: once per address
(every request) and once per access token (requests that carry one; the token's sha256 is the
key, never the token). The counts live where every API process of an installation sees them:
in Redis with the Redis queue backend (two hosts), else in files under
`<data_dir>/run/rate_limits` (one host). The health endpoints and `/metrics` are never limited.
A refusal raises Litestar's TooManyRequestsException, which `errors.py` answers with code 153 and
a Retry-After taken from the window's reset.

The limits are a guard against floods, not exact quotas: API processes that count the same key
at the same moment may each miss the other's request. When the counts cannot be read (Redis
down), requests pass uncounted, logged: the limits never make the API less available.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import msgspec
from litestar import Litestar, Request
from litestar.middleware.base import DefineMiddleware
from litestar.middleware.rate_limit import CacheObject, RateLimitConfig, RateLimitMiddleware
from litestar.stores.base import Store
from litestar.stores.file import FileStore
from litestar.types import Send

from appliance.ops.settings import Settings
from appliance.web.requests import access_token_of, source_address

__all__ = ["RATE_LIMIT_RESET_HEADER", "RateLimits"]

log = logging.getLogger(__name__)


def _store_errors() -> tuple[type[Exception], ...]:
    """What a store that is down or half written raises: the counting gives way to the request on
    these only; any other error is a bug and surfaces as one."""
    errors: tuple[type[Exception], ...] = (OSError, msgspec.DecodeError)
    try:
        from redis.exceptions import RedisError  # the redis extra, there with the Redis queues
    except ImportError:
        return errors
    return (*errors, RedisError)


_STORE_ERRORS = _store_errors()

#: The header of a 429 that says in how many seconds the window resets (Retry-After is made of it).
RATE_LIMIT_RESET_HEADER = "RateLimit-Reset"
_STORE = "rate_limit"
_EXEMPT = [r"^/health/", r"^/metrics/?$"]
#: How often the expired windows of a file store are deleted (Redis expires its keys itself).
_SWEEP_SECONDS = 60.0


class _Limiter(RateLimitMiddleware):
    """Litestar's limiter, whose RateLimit-* headers go on its 429 only (two limiters count each
    request, and headers on every answer would say only one's), and which lets requests through
    when its store fails."""

    def create_send_wrapper(self, send: Send, cache_object: CacheObject) -> Send:
        return send

    async def retrieve_cached_history(self, key: str, store: Store) -> CacheObject:
        try:
            return await super().retrieve_cached_history(key, store)
        except _STORE_ERRORS as exc:  # the store is down: the request passes uncounted
            log.warning("rate limits not counted: %s: %s", type(exc).__name__, exc)
            return CacheObject(history=[], reset=0)

    async def set_cached_history(self, key: str, cache_object: CacheObject, store: Store) -> None:
        try:
            await super().set_cached_history(key, cache_object, store)
        except _STORE_ERRORS as exc:  # the store is down: the request passes uncounted
            log.warning("rate limits not counted: %s: %s", type(exc).__name__, exc)


def _address(request: Request[Any, Any, Any]) -> str:
    return f"address:{source_address(request)}"


def _token(request: Request[Any, Any, Any]) -> str:
    return f"token:{hashlib.sha256((access_token_of(request) or '').encode()).hexdigest()}"


def _has_token(request: Request[Any, Any, Any]) -> bool:
    return access_token_of(request) is not None


class RateLimits:
    """The middleware of `settings.rate_limits` and the store they count in."""

    def __init__(self, settings: Settings) -> None:
        limits = settings.rate_limits
        common: dict[str, Any] = {"exclude": _EXEMPT, "middleware_class": _Limiter, "store": _STORE}
        self.middleware: list[DefineMiddleware] = [
            RateLimitConfig(
                ("minute", limits.per_address_per_minute), identifier_for_request=_address, **common
            ).middleware,
            RateLimitConfig(
                ("minute", limits.per_token_per_minute),
                identifier_for_request=_token,
                check_throttle_handler=_has_token,
                **common,
            ).middleware,
        ]
        self.stores: dict[str, Store] = {_STORE: _store(settings)}

    @asynccontextmanager
    async def sweeping(self, app: Litestar) -> AsyncIterator[None]:
        """A lifespan that makes a file store's directory, then deletes its expired windows every minute."""
        store = app.stores.get(_STORE)
        if not isinstance(store, FileStore):
            yield
            return
        await store.path.mkdir(parents=True, exist_ok=True)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_sweep, store)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()


async def _sweep(store: FileStore) -> None:
    while True:
        try:
            await store.delete_expired()
        except _STORE_ERRORS as exc:  # a file half written or gone meanwhile: the next sweep takes it
            log.warning("expired rate limit windows not deleted: %s: %s", type(exc).__name__, exc)
        await anyio.sleep(_SWEEP_SECONDS)


def _store(settings: Settings) -> Store:
    if settings.queue.backend == "redis":
        from litestar.stores.redis import RedisStore  # the redis extra, there with the Redis queues
        from redis.asyncio import Redis

        # Not RedisStore.with_client: it passes a port to the connection, which a unix socket refuses.
        return RedisStore(
            Redis.from_url(settings.queue.redis_url),
            namespace=f"{settings.queue.name_prefix}-rate-limits",
            handle_client_shutdown=True,
        )
    return FileStore(settings.data_path / "run" / "rate_limits")
