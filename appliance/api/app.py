"""The Litestar application: controllers, dependencies, error mapping, OpenAPI at /docs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

import appliance
from appliance.api.controllers.analyses import AnalysisController
from appliance.api.controllers.auth import AuthController
from appliance.api.controllers.companies import CompanyController
from appliance.api.controllers.folders import FolderController
from appliance.api.controllers.instant import InstantController
from appliance.api.controllers.media import AnalysisImageController, MediaController
from appliance.api.controllers.system import SystemController
from appliance.api.controllers.users import UserController
from appliance.api.errors import exception_handlers
from appliance.api.security import provide_user
from appliance.api.services import ApiServices, build_services
from appliance.ops.settings import Settings, load_settings

__all__ = ["create_app"]


def _provide_services(state: State) -> ApiServices:
    return state.services


def create_app(settings: Settings | None = None) -> Litestar:
    """The API for `settings` (default: loaded from the config file and environment)."""
    settings = settings or load_settings()

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        app.state.services = build_services(settings)
        try:
            yield
        finally:
            app.state.services.close()

    limits = settings.limits
    return Litestar(
        route_handlers=[
            AuthController,
            UserController,
            CompanyController,
            FolderController,
            MediaController,
            AnalysisController,
            AnalysisImageController,
            InstantController,
            SystemController,
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
        logging_config=None,  # the process's logging is configured once, as JSON lines (appliance.ops.logging)
        debug=False,
    )
