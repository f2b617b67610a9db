"""A plugin loaded by the appliance's plugin host, and its services on a database of its own."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from appliance.core.plugins import UNVERSIONED, PluginHost, PluginSource, start_plugins
from appliance.core.services import AppServices
from appliance.domain.entities import Company
from appliance.ops.settings import ApiSettings, Settings
from appliance.sdk.services import PluginServices
from appliance.sdk.testing import vision_service
from appliance.sdk.types import AnalyzerSpec
from appliance.store.protocol import Store

__all__ = ["PluginTestBed", "create_company", "spec_from_plugin"]

#: The base of the links a test bed's plugin signs.
TEST_BASE_URL = "http://appliance.test"
#: How long those links stay valid.
TEST_LINK_TTL_SECONDS = 600


def _host_of(plugin: object) -> tuple[PluginHost, str]:
    """`plugin` (a module with `@hookimpl` functions) started by the plugin host alone, and its name."""
    name = getattr(plugin, "__name__", type(plugin).__name__)
    version = str(getattr(plugin, "__version__", UNVERSIONED))
    return start_plugins([PluginSource(plugin, name, version)]), name


def spec_from_plugin(plugin: object, analysis_type: str) -> AnalyzerSpec:
    """The spec `plugin` (a module with `@hookimpl` functions) registers for `analysis_type`.

    The plugin goes through the same loading as on the appliance, so a missing `@hookimpl` or a
    misspelt hook fails here with the same PluginError.
    """
    host, name = _host_of(plugin)
    spec = host.registry.get(analysis_type)
    if spec is None:
        raise LookupError(
            f"plugin {name} registers no analysis type {analysis_type}; it registers {host.registry.types()}"
        )
    return spec


class PluginTestBed:
    """A plugin's `PluginServices` on a database and storage of its own, as the appliance lends them:
    the plugin's migrations applied, files under `directory`, signed links, the face models of
    `models`. `create_company()` adds a company, for the plugin's rows that belong to one."""

    def __init__(
        self, plugin: object, directory: Path | str, *, models: Path | str | None = None, database_url: str = ""
    ) -> None:
        directory = Path(directory).resolve()
        host, name = _host_of(plugin)
        settings = Settings(
            data_dir=str(directory),
            database_url=database_url,
            secret_key=uuid.uuid4().hex,
            api=ApiSettings(public_base_url=TEST_BASE_URL, media_url_ttl_seconds=TEST_LINK_TTL_SECONDS),
        )
        # the session's face models of that store (they load once), else an empty store of the test bed's
        self._app = AppServices(settings, plugins=host, vision=vision_service(models))
        self._app.migrate()
        self.services: PluginServices = self._app.plugin_services[name]

    def create_company(self, name: str | None = None, meta_data: dict[str, Any] | None = None) -> str:
        """A new company's id (with `meta_data`, where a company keeps its choices)."""
        return create_company(self._app.store, name, meta_data)

    def close(self) -> None:
        self._app.close()


def create_company(store: Store, name: str | None = None, meta_data: dict[str, Any] | None = None) -> str:
    """A new company in `store`, named `name` or at random; its id."""
    company = Company(
        company_id=str(uuid.uuid4()),
        name=name or f"Company {uuid.uuid4().hex[:8]}",
        webhook_secret="",
        meta_data=dict(meta_data or {}),
    )
    return store.create_company(company).company_id
