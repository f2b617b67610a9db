"""What a task needs (store, media storage, plugins, queues, URL signer, face models), built once per process.

Built lazily, at the first task a process runs, and rebuilt when the process id changes: a
process worker forked by the Huey consumer builds its own, so no SQLite connection, psycopg pool
or model instance ever crosses a fork. Enqueueing (the API) never needs a context.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from appliance.media import MediaStorage
from appliance.ops.settings import Settings, load_settings
from appliance.queue.hosts import report_this_host
from appliance.queue.queues import Queues
from appliance.runtime import ModelRuntime, ModelStore
from appliance.sdk.host import PluginHost, load_plugins
from appliance.sdk.services import PluginServices, plugin_services
from appliance.store import open_store
from appliance.store.protocol import Store
from appliance.vision import VisionService
from appliance.wire import UrlSigner

__all__ = ["WorkerContext", "configure", "get_context", "install_context"]


@dataclass(frozen=True, slots=True)
class WorkerContext:
    settings: Settings
    store: Store
    storage: MediaStorage
    plugins: PluginHost
    queues: Queues
    urls: UrlSigner
    #: Face tracks for analyses: one model runtime per process, tracks cached in each media's
    #: derived directory (so shared by processes, and deleted with the media).
    vision: VisionService | None = None
    #: What each plugin's analyzer gets as `ctx.services`, by plugin name.
    plugin_services: dict[str, PluginServices] = field(default_factory=dict)

    @classmethod
    def build(cls, settings: Settings) -> WorkerContext:
        """Open everything `settings` names. The database must already be migrated."""
        base_url = settings.api.public_base_url or f"http://{settings.api.host}:{settings.api.port}"
        storage = MediaStorage(settings.storage_path, settings.limits)
        models = ModelStore(settings.models_path)
        runtime = ModelRuntime(models, threads=settings.models.threads)
        store = open_store(settings.resolved_database_url)
        report_this_host(store, models, settings.hostname)  # which model bundle this worker's host runs (/api/version)
        plugins = load_plugins(settings.plugin_modules)
        urls = UrlSigner(secret=settings.secret_key, base_url=base_url, ttl_seconds=settings.api.media_url_ttl_seconds)
        vision = VisionService(runtime, cache_dir=storage.derived_dir)
        return cls(
            settings=settings,
            store=store,
            storage=storage,
            plugins=plugins,
            queues=Queues(settings),
            urls=urls,
            vision=vision,
            plugin_services=plugin_services(
                plugins,
                backend=store.backend,
                storage_root=settings.storage_path,
                limits=settings.limits,
                urls=urls,
                vision=vision,
            ),
        )

    def close(self) -> None:
        self.store.close()


_lock = threading.Lock()
_settings: Settings | None = None
_context: WorkerContext | None = None
_context_pid: int | None = None


def configure(settings: Settings | None) -> None:
    """Build later contexts from `settings` (None: from `load_settings()`), here and in forked children."""
    global _settings, _context
    with _lock:
        _settings = settings
        _context = None


def install_context(context: WorkerContext | None) -> None:
    """Make `context` the one tasks of this process use (tests); None drops it (not closing it)."""
    global _context, _context_pid
    with _lock:
        _context = context
        _context_pid = os.getpid()


def get_context() -> WorkerContext:
    """This process's context, built on first use."""
    global _context, _context_pid
    with _lock:
        if _context is None or _context_pid != os.getpid():
            _context = WorkerContext.build(_settings if _settings is not None else load_settings())
            _context_pid = os.getpid()
        return _context
