"""The Litestar application: controllers, dependencies, error mapping, OpenAPI at /docs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

import appliance
from appliance.api.controllers.analyses import AnalysisController
from appliance.api.controllers.auth import AuthController
from appliance.api.controllers.companies import CompanyController
from appliance.api.controllers.decisions import DecisionController
from appliance.api.controllers.folders import FolderController
from appliance.api.controllers.instant import InstantController
from appliance.api.controllers.media import AnalysisImageController, MediaController
from appliance.api.controllers.metrics import MetricsController
from appliance.api.controllers.system import SystemController
from appliance.api.controllers.users import UserController
from appliance.api.errors import exception_handlers
from appliance.api.request_metrics import RequestMetrics
from appliance.api.security import provide_user
from appliance.api.services import ApiServices, build_services, plugin_dependency
from appliance.console import console_routers
from appliance.ops.settings import Settings, load_settings
from appliance.ops.systemd import notify_status
from appliance.runtime import ModelError, ModelRuntime
from appliance.sdk.host import load_plugins
from appliance.sdk.registry import RouteRegistry

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _provide_services(state: State) -> ApiServices:
    return state.services


def _load_models(runtime: ModelRuntime) -> None:
    """Load and verify every active model before the API says it is ready, so that the first
    instant request does not wait for them and a broken model shows at start. A model that fails
    is logged and the API starts anyway: folders and queued analyses do not need it here."""
    for name in runtime.active_versions():
        try:
            runtime.get(name)
        except ModelError as exc:
            log.error("model %s not loaded: %s", name, exc)


def _plugin_router(routes: RouteRegistry) -> Router:
    """One plugin's routes, whose handlers get that plugin's services as `plugin`."""
    return Router(
        path="/", route_handlers=list(routes.handlers), dependencies={"plugin": plugin_dependency(routes.plugin)}
    )


def create_app(settings: Settings | None = None) -> Litestar:
    """The API for `settings` (default: loaded from the config file and environment), with the
    routes its plugins add (`register_routes`)."""
    settings = settings or load_settings()
    plugins = load_plugins(settings.plugin_modules)

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        notify_status("opening the database")
        app.state.services = build_services(settings, plugins)
        notify_status("loading models")
        _load_models(app.state.services.vision.runtime)
        try:
            yield
        finally:
            notify_status("closing the database")
            app.state.services.close()

    limits = settings.limits
    app = Litestar(
        route_handlers=[
            AuthController,
            UserController,
            CompanyController,
            FolderController,
            DecisionController,
            MediaController,
            AnalysisController,
            AnalysisImageController,
            InstantController,
            SystemController,
            *([MetricsController] if settings.metrics.enabled else []),
            *(console_routers(plugins.console_pages()) if settings.console.enabled else []),
            *(_plugin_router(routes) for routes in plugins.routes()),
        ],
        dependencies={
            "services": Provide(_provide_services, sync_to_thread=False),
            "user": Provide(provide_user, sync_to_thread=True),
        },
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        lifespan=[lifespan],
        request_max_body_size=limits.max_files_per_request * limits.max_file_bytes + limits.max_payload_bytes + 65536,
        openapi_config=OpenAPIConfig(
            title="Liveness appliance API",
            version=appliance.__version__,
            path="/docs",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        logging_config=None,  # the process's logging is configured once (appliance.ops.logging)
        debug=False,
    )
    if settings.metrics.enabled:
        # around the router, so that requests no route matches are counted too (request_metrics.py)
        app.asgi_handler = RequestMetrics(app.asgi_handler)
    return app
