"""A webhook receiver for tests: a real HTTP server (on 127.0.0.1 by default) that records every POST.

Webhooks go to loopback only where `webhooks.allowed_targets` says so, as on a site whose receiver
runs on the appliance's host (docs/configuration.md, "Webhook targets"): a test whose appliance
posts to a receiver here sets it, with `allowed_targets` or `allowed_targets_env`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["Received", "WebhookReceiver", "allowed_targets", "allowed_targets_env"]


def allowed_targets(address: str = "127.0.0.1") -> list[str]:
    """`webhooks.allowed_targets` of an appliance whose webhooks go to a receiver on `address`."""
    return [f"{address}/32"]


def allowed_targets_env(address: str = "127.0.0.1") -> dict[str, str]:
    """The same as settings for `running_appliance` / `appliance_env` (APPLIANCE_WEBHOOKS__ALLOWED_TARGETS)."""
    return {"WEBHOOKS__ALLOWED_TARGETS": json.dumps(allowed_targets(address))}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    #: The sender's IP address.
    client: str

    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """Answers every POST with `status` (a 3xx points elsewhere) and records it; listens on
    `address` (another address than loopback where the sender runs in another network namespace)."""

    def __init__(self, address: str = "127.0.0.1") -> None:
        self.status = 200
        #: Where a 3xx answer points.
        self.location = "/elsewhere"
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.received.append(
                        Received(self.path, dict(self.headers.items()), body, self.client_address[0])
                    )
                self.send_response(receiver.status)
                if 300 <= receiver.status < 400:
                    self.send_header("Location", receiver.location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output quiet

        self._server = ThreadingHTTPServer((address, 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str = "/hook") -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{path}"

    def wait_for(self, count: int, timeout: float = 60.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.1)
        raise AssertionError(f"expected {count} webhooks, got {len(self.received)}")

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
