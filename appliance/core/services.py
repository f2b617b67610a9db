"""The one composition root: what every process of the appliance works with, built from its settings.

The API (and the console it serves), the queue workers, the scheduler and the CLI commands all
build an `AppServices` and take from it what they use. Each part is made on first use, so a
process pays for what it touches and nothing more: the scheduler opens the database and the
queues and never loads a plugin; `appliance users` opens the database only. What differs between
processes is said once, here:

- the API migrates the database (with the plugins' migrations) and reports its host when it starts
  (`migrate`, `report_host`); its face models keep no track cache, since the instant mode writes
  nothing to disk; a client waits on its requests, so a database that went away is waited for
  `database.api_retry_seconds` there (`database_retry_seconds`), not `database.retry_seconds`;
- the API and the scheduler register their part of this host and beat every
  `hosts.heartbeat_seconds` (`heartbeat`; a worker's consumer does the same on a store of its own);
- a worker reports its host when it builds its services, and caches face tracks beside each
  media (`face_track_cache=True`), so that worker processes compute a track once between them.

Nothing here opens a connection that crosses a fork: a worker process builds its own services
(appliance.queue.context).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from appliance.core.hosts import PartHeartbeat, report_this_host
from appliance.core.model_set import ModelSetCheck
from appliance.core.plugins import PluginHost, load_plugins
from appliance.core.queues import Queues
from appliance.core.webhooks import WebhookTargets
from appliance.media.storage import LocalMediaStorage, MediaStorage, open_storage
from appliance.ops.settings import Settings
from appliance.ops.updater import journal_path
from appliance.runtime import ModelRuntime, ModelStore
from appliance.sdk.services import PluginDatabase, PluginFiles, PluginServices
from appliance.store import open_store
from appliance.store.protocol import HostReport, Store
from appliance.vision import VisionService
from appliance.wire import UrlSigner

__all__ = ["AppServices"]

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]")

T = TypeVar("T")


class _Part(Generic[T]):
    """A part of `AppServices`, built on first use and once only, even when the threads of a
    process (the API's request threads) ask for it at the same time."""

    def __init__(self, build: Callable[[AppServices], T]) -> None:
        self._build = build
        self.__doc__ = build.__doc__
        self._name = build.__name__

    @overload
    def __get__(self, services: None, owner: type[AppServices]) -> _Part[T]: ...

    @overload
    def __get__(self, services: AppServices, owner: type[AppServices]) -> T: ...

    def __get__(self, services: AppServices | None, owner: type[AppServices]) -> _Part[T] | T:
        if services is None:
            return self
        built: dict[str, Any] = services.__dict__
        if self._name not in built:
            with services._building:
                if self._name not in built:
                    built[self._name] = self._build(services)
        part: T = built[self._name]
        return part

    def built_in(self, services: AppServices) -> bool:
        return self._name in services.__dict__


class AppServices:
    """The parts of the appliance one process works with, each built from `settings` on first use.

    `plugins`, `store` and `vision` may be given instead: the API loads its plugins before it
    builds its app (their routes are part of it), and tests lend a store or face models of their own.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        face_track_cache: bool = False,
        database_retry_seconds: float | None = None,
        plugins: PluginHost | None = None,
        store: Store | None = None,
        vision: VisionService | None = None,
    ) -> None:
        self.settings = settings
        self._face_track_cache = face_track_cache
        self._database_retry_seconds = database_retry_seconds
        self._building = threading.RLock()  # a part may need others (plugin_services: store, vision)
        given = {"plugins": plugins, "store": store, "vision": vision}
        self.__dict__.update({name: part for name, part in given.items() if part is not None})

    @_Part
    def store(self) -> Store:
        """The database; opened on first use, closed by `close`. What a lost connection interrupts
        is tried again for `database_retry_seconds` if given (the API's, which a client waits on),
        else for `database.retry_seconds` (docs/postgres-failover.md)."""
        database = self.settings.database
        retry_seconds = self._database_retry_seconds
        return open_store(
            self.settings.resolved_database_url,
            retry_seconds=database.retry_seconds if retry_seconds is None else retry_seconds,
            connect_timeout_seconds=database.connect_timeout_seconds,
        )

    @_Part
    def storage(self) -> MediaStorage:
        """The media files: a local directory or an S3-compatible bucket (`storage.backend`)."""
        return open_storage(self.settings)

    @_Part
    def queues(self) -> Queues:
        """The queues to enqueue into (building them loads no task code)."""
        return Queues(self.settings)

    @_Part
    def models(self) -> ModelStore:
        return ModelStore(self.settings.models_path)

    @_Part
    def model_set(self) -> ModelSetCheck:
        """Whether the model store serves one whole model set, from its files and the updater's journal."""
        return ModelSetCheck(self.models, journal_path(self.settings.updater_state_path))

    @_Part
    def plugins(self) -> PluginHost:
        """The plugins of the `appliance.plugins` entry points and the `plugin_modules` setting."""
        return load_plugins(self.settings.plugin_modules)

    @_Part
    def urls(self) -> UrlSigner:
        """Signs the links documents carry (media files, output images, plugin routes)."""
        api = self.settings.api
        base_url = api.public_base_url or f"http://{api.host}:{api.port}"
        return UrlSigner(self.settings.secret_key, base_url, api.media_url_ttl_seconds)

    @_Part
    def webhook_targets(self) -> WebhookTargets:
        """Where webhooks may go: checks a URL when it is set, and sends a delivery to a checked address."""
        return WebhookTargets(self.settings)

    @_Part
    def vision(self) -> VisionService:
        """The face pipeline: one model runtime for the process, models loaded on first use."""
        runtime = ModelRuntime(self.models, threads=self.settings.models.threads)
        return VisionService(runtime, cache_dir=self.storage.track_cache_dir if self._face_track_cache else None)

    @_Part
    def plugin_services(self) -> dict[str, PluginServices]:
        """What each loaded plugin gets (`ctx.services`, its routes' and pages' `plugin`), by plugin name:
        its tables, and its files and data under `<storage_root>/plugins/<plugin>/`; nothing is created here."""
        services = {}
        for info in self.plugins.plugins():
            root = self.settings.storage_path / "plugins" / _UNSAFE_NAME.sub("_", info.name)
            services[info.name] = PluginServices(
                plugin=info.name,
                db=PluginDatabase(self.store.backend),
                files=PluginFiles(LocalMediaStorage(root, self.settings.limits)),
                data_dir=root / "data",
                limits=self.settings.limits,
                _urls=self.urls,
                _vision=self.vision,
            )
        return services

    def migrate(self) -> list[str]:
        """Bring the database to the newest schema, the appliance's migrations then the plugins';
        the names of the steps applied."""
        return self.store.migrate(self.plugins.migrations(self.store.dialect))

    def report_host(self) -> HostReport | None:
        """Record which model bundle and versions this host runs (`/api/version`); None if that failed."""
        return report_this_host(self.store, self.models, self.settings.hostname)

    def heartbeat(self, part: str, role: str | None = None) -> PartHeartbeat:
        """This process's registration as `part` of this host (not started: `beat()` or `start()` it)."""
        return PartHeartbeat(self.store, self.settings.hostname, part, self.settings.hosts, role=role)

    def close(self) -> None:
        """Close what was opened (the database)."""
        if AppServices.store.built_in(self):
            self.store.close()
