"""The services of a worker process (appliance.core.services), built once per process.

Built lazily, at the first task a process runs, and rebuilt when the process id changes: a
process worker forked by the Huey consumer builds its own, so no SQLite connection, psycopg pool
or model instance ever crosses a fork. Enqueueing (the API) never needs them.
"""

from __future__ import annotations

import os
import threading

from appliance.core.services import AppServices
from appliance.ops.settings import Settings, load_settings

__all__ = ["configure", "get_services", "install_services", "worker_services"]

_lock = threading.Lock()
_settings: Settings | None = None
_services: AppServices | None = None
_services_pid: int | None = None


def worker_services(settings: Settings) -> AppServices:
    """What a worker works with: face tracks cached beside each media (shared by worker processes),
    and this host's model bundle reported to the database (`/api/version`). The database must
    already be migrated."""
    services = AppServices(settings, face_track_cache=True)
    services.report_host()
    return services


def configure(settings: Settings | None) -> None:
    """Build later services from `settings` (None: from `load_settings()`), here and in forked children."""
    global _settings, _services
    with _lock:
        _settings = settings
        _services = None


def install_services(services: AppServices | None) -> None:
    """Make `services` the ones tasks of this process use (tests); None drops them (not closing them)."""
    global _services, _services_pid
    with _lock:
        _services = services
        _services_pid = os.getpid()


def get_services() -> AppServices:
    """This process's services, built on first use."""
    global _services, _services_pid
    with _lock:
        if _services is None or _services_pid != os.getpid():
            _services = worker_services(_settings if _settings is not None else load_settings())
            _services_pid = os.getpid()
        return _services
