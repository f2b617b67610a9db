"""Request bodies at the ASGI level: the size of a body that is not an upload, and an answer every
client reads.

`BodyLimits` wraps the app. A body that is not a multipart upload (JSON, a console form) may be
`limits.max_body_bytes` long: a larger `Content-Length` is refused at the first read, a chunked
body as soon as it grows past it (BODY_TOO_LARGE, raised inside the app's read, so that the app's
error mapping answers it). Uploads keep their own limits (uploads.py, and the app's
`request_max_body_size`).

A refusal often goes out before the body is read: a payload part over its limit, a missing token,
a body too large. uvicorn then closes the connection, when the client asked for that (urllib
always does), with the rest of the body unread in the socket, and the kernel answers it with a
reset: a client that sends its whole body before it reads (urllib, requests) sees "connection
reset" instead of the answer. So before an answer starts, the rest of the body is read and thrown
away, up to `limits.max_upload_bytes` in all (what a valid upload may send anyway); past that the
connection is closed as before. Nothing is drained from a client that waits for
`100 Continue` before it sends its body, and that the app never asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from appliance.domain.errors import AppError, ErrorCode
from appliance.ops.settings import Limits
from appliance.web.request_bodies import MULTIPART

__all__ = ["BodyLimits"]


@dataclass(slots=True)
class _Body:
    """One request's body as it arrives."""

    length: int | None
    limit: float
    expects_continue: bool
    received: int = 0
    #: Whether the server was asked for the body (a waiting client then got its `100 Continue`).
    asked: bool = False
    done: bool = False

    def take(self, message: ReceiveMessage) -> None:
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            self.done = not message.get("more_body", False)
        elif message["type"] == "http.disconnect":
            self.done = True


class BodyLimits:
    """The ASGI app around `app` that bounds and drains request bodies (see the module)."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        self.app = app
        self.max_body_bytes = limits.max_body_bytes
        self.max_drain_bytes = limits.max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        body = self._body_of(scope)
        if body is None:
            await self.app(scope, receive, send)
            return

        async def limited_receive() -> ReceiveMessage:
            if body.length is not None and body.length > body.limit:
                raise self._too_large()
            body.asked = True
            message = await receive()
            body.take(message)
            if body.received > body.limit:
                raise self._too_large()
            return message

        async def draining_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                await self._drain(body, receive)
            await send(message)

        await self.app(scope, limited_receive, draining_send)

    def _body_of(self, scope: Scope) -> _Body | None:
        """None when the request has no body."""
        headers = {name.lower(): value for name, value in scope["headers"]}
        length_header = headers.get(b"content-length")
        try:
            length = int(length_header) if length_header is not None else None
        except ValueError:
            return None  # the server refuses such a request before the app sees it
        if length in (None, 0) and b"transfer-encoding" not in headers:
            return None
        content_type = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        return _Body(
            length=length,
            limit=float("inf") if content_type == MULTIPART else self.max_body_bytes,
            expects_continue=headers.get(b"expect", b"").lower() == b"100-continue",
        )

    async def _drain(self, body: _Body, receive: Receive) -> None:
        """Read and drop what is left of the body, within `max_drain_bytes` in all."""
        if body.done or (body.expects_continue and not body.asked):
            return
        if body.length is not None and body.length > self.max_drain_bytes:
            return  # too much to read for a refusal: the connection closes with the rest unread
        while not body.done and body.received <= self.max_drain_bytes:
            body.take(await receive())

    def _too_large(self) -> AppError:
        return AppError(
            ErrorCode.BODY_TOO_LARGE,
            f"the request body is larger than {self.max_body_bytes} bytes",
            {"max_bytes": self.max_body_bytes},
        )
