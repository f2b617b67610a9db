"""Metrics from the command line: each process's metric files, and `appliance metrics`, the
exporter of a host that runs no API (docs/metrics.md).

`appliance serve` and `appliance worker` call `use_host_metrics_dir` first, so that they (and
the workers they fork) write their metrics into this host's directory; the process that serves
them (the API, or this exporter) first drops the files of processes that ended.
"""

from __future__ import annotations

import hmac
import ipaddress
import signal
import threading
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import click
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import MetricsHandler

from appliance.cli.common import fail, settings_or_fail, user_errors
from appliance.ops.metrics_files import remove_files_of_ended_processes, use_directory
from appliance.ops.settings import Settings

__all__ = ["DEFAULT_EXPORTER_PORT", "metrics", "use_host_metrics_dir"]

DEFAULT_EXPORTER_PORT = 9464


def use_host_metrics_dir(settings: Settings, *, serves: bool) -> None:
    """Record this process's metrics in the host's directory (nothing when metrics are off);
    `serves`: this process serves them, so first drop the files of processes that ended."""
    if not settings.metrics.enabled:
        return
    use_directory(settings.metrics_path)
    if serves:
        remove_files_of_ended_processes(settings.metrics_path)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _bearer_matches(authorization: str | None, token: str) -> bool:
    scheme, _, credentials = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(credentials.strip().encode(), token.encode())


def _handler(registry: CollectorRegistry, token: str) -> type[MetricsHandler]:
    """prometheus_client's handler for `registry`, at /metrics only, behind `token` when one is set."""

    class Handler(MetricsHandler):
        def do_GET(self) -> None:
            if urlsplit(self.path).path != "/metrics":
                self.send_error(404, "metrics are at /metrics")
                return
            if token and not _bearer_matches(self.headers.get("Authorization"), token):
                self.send_response(401)
                self.send_header("WWW-Authenticate", "Bearer")
                self.end_headers()
                return
            super().do_GET()

    Handler.registry = registry
    return Handler


@click.command("metrics")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=DEFAULT_EXPORTER_PORT, show_default=True)
@user_errors
def metrics(host: str, port: int) -> None:
    """Serve this host's metrics at http://HOST:PORT/metrics (for a host that runs workers but no API).

    Beyond the loopback address, `metrics.token` must be set: scrapers send it as a Bearer token.
    """
    from appliance.core.host_metrics import host_registry
    from appliance.core.services import AppServices

    settings = settings_or_fail()
    if not settings.metrics.enabled:
        fail("metrics are off (metrics.enabled = false)")
    if not settings.metrics.token and not _is_loopback(host):
        fail(f"set metrics.token before serving metrics on {host}: scrapers must send it")
    use_host_metrics_dir(settings, serves=True)
    services = AppServices(settings)
    registry = host_registry(settings.metrics_path, services.queues, services.models)
    server = ThreadingHTTPServer((host, port), _handler(registry, settings.metrics.token))

    def stop(_signum: int, _frame: Any) -> None:
        threading.Thread(target=server.shutdown).start()  # shutdown waits for serve_forever: not from its thread

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    click.echo(f"serving this host's metrics on http://{host}:{server.server_port}/metrics", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
