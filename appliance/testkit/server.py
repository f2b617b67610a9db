"""The appliance's API and operator console with a plugin loaded, served over real HTTP from the
test's process."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Self

import uvicorn

from appliance.api.app import create_app
from appliance.auth.accounts import create_account
from appliance.core.services import AppServices
from appliance.domain.enums import Role
from appliance.ops.settings import ApiSettings, MetricsSettings, Settings
from appliance.sdk.services import PluginServices
from appliance.sdk.testing import MODELS_ENV, TEST_PASSWORD, ConsoleVisitor
from appliance.testkit.plugins import create_company

__all__ = ["ApplianceServer"]


class ApplianceServer:
    """The appliance's API and operator console with `plugin` loaded (beside the installed plugins),
    served over real HTTP from this process: uvicorn on a free loopback port, in a thread, on a
    SQLite database and storage under `directory`, with the face models of `models` (else
    $APPLIANCE_MODELS_ROOT). No queue worker runs.

    `create_company()` and `create_user(role, company_id)` add callers; `console(email)` is a
    `ConsoleVisitor` signed in as that user; `services` is the plugin's `PluginServices`, as its
    routes and console pages get them. Use it in a `with` block, or `close()` it.
    """

    #: How long the server may take to open its database and load its models.
    START_TIMEOUT_SECONDS = 120.0

    def __init__(self, plugin: object, directory: Path | str, *, models: Path | str | None = None) -> None:
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        host, port = self._socket.getsockname()
        self.base_url = f"http://{host}:{port}"
        models = models if models is not None else os.environ.get(MODELS_ENV)
        settings = Settings(
            data_dir=str(Path(directory).resolve()),
            models_root=str(Path(models).resolve()) if models else "",
            secret_key=uuid.uuid4().hex,
            plugin_modules=[getattr(plugin, "__name__", "")],
            api=ApiSettings(host=host, port=port),
            metrics=MetricsSettings(enabled=False),  # this process's metrics are the test runner's
        )
        self._app = create_app(settings)
        self._server = uvicorn.Server(uvicorn.Config(self._app, log_config=None, lifespan="on"))
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="appliance-server", daemon=True
        )
        self._thread.start()
        self._wait_until_started()
        self.services: PluginServices = self._app_services.plugin_services[self._app_services.plugins.name_of(plugin)]

    @property
    def _app_services(self) -> AppServices:
        services: AppServices = self._app.state.services
        return services

    def _wait_until_started(self) -> None:
        deadline = time.monotonic() + self.START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the appliance server did not start (its error is logged above)")
            time.sleep(0.05)

    def create_company(self, name: str | None = None) -> str:
        """A new company's id."""
        return create_company(self._app_services.store, name)

    def create_user(self, role: Role | str, company_id: str | None = None, *, is_admin: bool = False) -> str:
        """A new user of `role` (ADMIN and OPERATOR belong to no company; the others to `company_id`,
        a CLIENT may be its admin); their email. Their password is `TEST_PASSWORD`."""
        user_type = Role(role)
        email = f"{user_type.value.lower()}-{uuid.uuid4().hex[:8]}@appliance.test"
        create_account(
            self._app_services.store,
            email=email,
            password=TEST_PASSWORD,
            user_type=user_type,
            company_id=company_id,
            is_admin=is_admin,
        )
        return email

    def console(self, email: str, password: str = TEST_PASSWORD) -> ConsoleVisitor:
        """A new console visitor, signed in as `email`."""
        return ConsoleVisitor(self.base_url).log_in(email, password)

    def close(self) -> None:
        self._server.should_exit = True
        self._thread.join()
        self._socket.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()
