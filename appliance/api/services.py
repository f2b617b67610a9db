"""What the API's handlers work with, built once per process when the app starts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from appliance.media.storage import MediaStorage
from appliance.ops.settings import Settings
from appliance.queue.hosts import report_this_host
from appliance.queue.queues import Queues
from appliance.runtime import ModelRuntime, ModelStore
from appliance.sdk.host import PluginHost, load_plugins
from appliance.sdk.services import PluginServices, plugin_services
from appliance.store import open_store
from appliance.store.protocol import Store
from appliance.vision import VisionService
from appliance.wire import UrlSigner

__all__ = ["ApiServices", "Services", "build_services", "plugin_dependency", "public_base_url"]


def public_base_url(settings: Settings) -> str:
    return settings.api.public_base_url or f"http://{settings.api.host}:{settings.api.port}"


@dataclass(slots=True)
class ApiServices:
    settings: Settings
    store: Store
    storage: MediaStorage
    queues: Queues
    plugins: PluginHost
    urls: UrlSigner
    models: ModelStore
    vision: VisionService
    #: What each plugin's routes get as `plugin: PluginDependency`, by plugin name.
    plugin_services: dict[str, PluginServices]

    def close(self) -> None:
        self.store.close()


#: How a handler asks for the services: `services: Services`.
Services: TypeAlias = NamedDependency[ApiServices]


def plugin_dependency(plugin: str) -> Provide:
    """The `plugin` dependency of the API routes and console pages that `plugin` adds: its services."""

    def provide_plugin(state: State) -> PluginServices:
        return state.services.plugin_services[plugin]

    return Provide(provide_plugin, sync_to_thread=False)


def build_services(settings: Settings, plugins: PluginHost | None = None) -> ApiServices:
    """Open what `settings` name and migrate the database (with the plugins' migrations);
    `plugins` are loaded from the settings unless given."""
    plugins = plugins or load_plugins(settings.plugin_modules)
    store = open_store(settings.resolved_database_url)
    store.migrate(plugins.migrations(store.dialect))
    models = ModelStore(settings.models_path)
    report_this_host(store, models, settings.hostname)
    urls = UrlSigner(settings.secret_key, public_base_url(settings), settings.api.media_url_ttl_seconds)
    # the instant mode's and the plugins' face models: loaded lazily, no cache directory, nothing on disk
    vision = VisionService(ModelRuntime(models, threads=settings.models.threads), cache_dir=None)
    return ApiServices(
        settings=settings,
        store=store,
        storage=MediaStorage(settings.storage_path, settings.limits),
        queues=Queues(settings),
        plugins=plugins,
        urls=urls,
        models=models,
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
