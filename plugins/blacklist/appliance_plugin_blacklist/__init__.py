"""The blacklist plugin: collections of persons (watch lists) and the COLLECTION analysis (1:N search).

- `register_analyzers`: COLLECTION (analyzer.py): a folder's faces searched in its company's collections.
- `register_routes`: the collections API in the Oz shape (routes.py), `/api/collections/...`.
- `register_console_pages`: the collections pages of the operator console (console_pages.py),
  `/console/collections/...`.
- `database_migrations`: its tables (migrations/), created by the appliance's migration runner.
- `background_work`: the collections re-enrolled into a new embedding space after a model change
  (reenrolment.py), by the maintenance workers.

docs/collections.md describes the API, the search, the index and what deletion removes.
"""

from __future__ import annotations

from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import TYPE_CHECKING

from appliance.sdk import AnalyzerRegistry, AnalyzerSpec, BackgroundWork, hookimpl
from appliance_plugin_blacklist.analyzer import DEFAULT_PARAMS, MEDIA_RULE, CollectionAnalyzer
from appliance_plugin_blacklist.reenrolment import Reenrolment

if TYPE_CHECKING:
    from appliance.sdk.console import ConsolePageRegistry
    from appliance.sdk.web import RouteRegistry

__version__ = "0.1.0"


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(
        AnalyzerSpec(
            type="COLLECTION",
            analyzer=CollectionAnalyzer(),
            media_rule=MEDIA_RULE,
            default_params=dict(DEFAULT_PARAMS),
            description="1:N face search of the folder's faces in the company's collections (watch lists)",
        )
    )


@hookimpl
def register_routes(routes: RouteRegistry) -> None:
    from appliance_plugin_blacklist.routes import (  # the API process only
        CollectionController,
        CollectionMetaDataController,
        PersonController,
        PersonMetaDataController,
    )

    for controller in (CollectionController, CollectionMetaDataController, PersonController, PersonMetaDataController):
        routes.add(controller)


@hookimpl
def register_console_pages(pages: ConsolePageRegistry) -> None:
    from appliance_plugin_blacklist.console_pages import COLLECTIONS_PAGE  # the API process only

    pages.add(COLLECTIONS_PAGE)


@hookimpl
def database_migrations() -> Traversable:
    return files(__name__) / "migrations"


@hookimpl
def background_work() -> BackgroundWork:
    return Reenrolment()
