"""The Litestar application: controllers, dependencies, error mapping, OpenAPI at /docs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar, Router
from litestar.di import Provide

from appliance.api.api_docs import docs_assets_router, openapi_config
from appliance.api.controllers.analyses import AnalysisController, AnalysisMetaDataController
from appliance.api.controllers.auth import AuthController
from appliance.api.controllers.capture import capture_routes
from appliance.api.controllers.companies import CompanyController
from appliance.api.controllers.decisions import DecisionController
from appliance.api.controllers.folders import FolderController, FolderMetaDataController
from appliance.api.controllers.instant import InstantController
from appliance.api.controllers.media import AnalysisImageController, MediaController, MediaMetaDataController
from appliance.api.controllers.metrics import MetricsController
from appliance.api.controllers.system import SystemController
from appliance.api.controllers.users import UserController
from appliance.api.errors import document_errors, exception_handlers
from appliance.api.rate_limits import RateLimits
from appliance.api.request_metrics import RequestMetrics
from appliance.api.security import provide_user
from appliance.console import console_routers
from appliance.core.hosts import API_PART
from appliance.core.plugins import load_plugins
from appliance.core.providers import AppWebHost, plugin_dependency, provide_services
from appliance.core.services import AppServices
from appliance.ops.settings import Settings, load_settings
from appliance.ops.systemd import notify_status
from appliance.runtime import ModelError
from appliance.sdk.registry import RouteRegistry
from appliance.sdk.web import WEB_HOST_STATE
from appliance.vision.models import ModelProvider
from appliance.web.draining import BodyLimits
from appliance.web.request_bodies import checked_request_class, refuse_nul_in_url

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def _load_models(runtime: ModelProvider) -> None:
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
        services = AppServices(settings, plugins=plugins, database_retry_seconds=settings.database.api_retry_seconds)
        services.migrate()
        services.report_host()
        heartbeat = services.heartbeat(API_PART).start()
        app.state.services = services
        setattr(app.state, WEB_HOST_STATE, AppWebHost(services))
        notify_status("loading models")
        _load_models(services.vision.runtime)
        try:
            yield
        finally:
            notify_status("closing the database")
            heartbeat.stop()
            services.close()

    limits = settings.limits
    rate_limits = RateLimits(settings) if settings.rate_limits.enabled else None
    app = Litestar(
        route_handlers=[
            AuthController,
            UserController,
            CompanyController,
            FolderController,
            FolderMetaDataController,
            DecisionController,
            MediaController,
            MediaMetaDataController,
            AnalysisController,
            AnalysisMetaDataController,
            AnalysisImageController,
            InstantController,
            SystemController,
            docs_assets_router(),
            *(capture_routes() if settings.capture.enabled else []),
            *([MetricsController] if settings.metrics.enabled else []),
            *(console_routers(plugins.console_pages()) if settings.console.enabled else []),
            *(_plugin_router(routes) for routes in plugins.routes()),
        ],
        dependencies={
            "services": Provide(provide_services, sync_to_thread=False),
            "user": Provide(provide_user, sync_to_thread=True),
        },
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        request_class=checked_request_class(limits),
        guards=[refuse_nul_in_url],
        middleware=rate_limits.middleware if rate_limits else [],
        stores=rate_limits.stores if rate_limits else None,
        lifespan=[lifespan, *([rate_limits.sweeping] if rate_limits else [])],
        request_max_body_size=limits.max_upload_bytes,
        openapi_config=openapi_config(),
        logging_config=None,  # the process's logging is configured once (appliance.ops.logging)
        debug=False,
    )
    # every route is registered by now: the schema is built once, and its errors described as they are
    document_errors(app.openapi_schema)
    # around the router, so that an unread body is drained before any answer goes out (web/draining.py)
    app.asgi_handler = BodyLimits(app.asgi_handler, limits)
    if settings.metrics.enabled:
        # around the router, so that requests no route matches are counted too (request_metrics.py)
        app.asgi_handler = RequestMetrics(app.asgi_handler)
    return app
