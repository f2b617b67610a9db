"""Request metrics: every HTTP request counted and timed by method, route template and status.

`RequestMetrics` wraps the app's router (`create_app` installs it), not a route: a middleware in
Litestar's chain, like `litestar.plugins.prometheus`'s, runs only once a route matched, so the
404s of unknown paths and the 405s would go uncounted. Routes are labelled by their template
(`/api/folders/{folder_id}`), never by the path with its ids, and requests no route matched as
`unmatched`, which keeps the number of series bounded whatever clients send.
"""

from __future__ import annotations

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from appliance.ops.metrics import HTTP_REQUEST_SECONDS, HTTP_REQUESTS, Stopwatch

__all__ = ["UNMATCHED_ROUTE", "RequestMetrics"]

#: The `route` label of requests that matched no route (404 for an unknown path, 405).
UNMATCHED_ROUTE = "unmatched"
#: Methods counted under their own name; any other is counted as OTHER (clients choose methods).
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetrics:
    """ASGI wrapper: counts and times every HTTP request that passes through `app`."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self._app(scope, receive, send)
            return
        watch = Stopwatch()
        status = 500  # unless a response starts

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, send_and_note_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            route = scope.get("path_template") or UNMATCHED_ROUTE  # the router sets it when a route matched
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_REQUEST_SECONDS.labels(method, route).observe(watch.stop())
