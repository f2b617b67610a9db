"""The plugin test kit: run an analyzer on real files, the way the appliance runs it.

    from appliance.sdk.testing import run_analyzer, spec_from_plugin
    import my_plugin

    outcome = run_analyzer(spec_from_plugin(my_plugin, "MY_TYPE"), [(Path("selfie.jpg"), ["photo_selfie"])])
    assert outcome.resolution is Resolution.SUCCESS

Files are validated and probed as the appliance does on upload, the spec's default params and
media rule are applied by the same function the workers call, and the analyzer gets a real
`AnalysisContext`. `ctx.faces` needs face models: pass `models=` (a model store directory, as
`default_models(tmp_dir)` or `appliance init` fills) or set APPLIANCE_MODELS_ROOT.

A plugin's API routes and console pages are tested over real HTTP: `ApplianceServer` serves the
appliance's API and console with the plugin loaded, and `ConsoleVisitor` is a browser without a
browser (cookies and CSRF tokens) that logs in to the console, reads pages and sends forms.
"""

from __future__ import annotations

import functools
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

import cv2
import httpx
import msgspec
import numpy as np

from appliance.media.probe import probe_file
from appliance.ops.settings import Limits, Thresholds
from appliance.sdk.context import AnalysisContext
from appliance.sdk.host import UNVERSIONED, PluginSource, start_plugins
from appliance.sdk.requests import build_request, check_outcome
from appliance.sdk.services import PluginServices, plugin_services
from appliance.sdk.types import Analyzer, AnalyzerSpec, MediaInput, Outcome
from appliance.vision.eyes import EyeLandmarks
from appliance.vision.service import VisionService

if TYPE_CHECKING:
    from appliance.domain.enums import Role
    from appliance.store.protocol import Store

__all__ = [
    "TEST_PASSWORD",
    "ApplianceServer",
    "ConsoleVisitor",
    "PluginTestBed",
    "csrf_token_of",
    "default_models",
    "media_input",
    "paint_eyes_shut",
    "run_analyzer",
    "spec_from_plugin",
    "vision_service",
]

#: The environment variable naming the model store `run_analyzer` takes face models from.
MODELS_ENV = "APPLIANCE_MODELS_ROOT"

#: The type a bare analyzer passed to `run_analyzer` runs under.
BARE_ANALYZER_TYPE = "TEST"

#: The password of the accounts `ApplianceServer.create_user` makes.
TEST_PASSWORD = "test-password-1"


def default_models(directory: Path | str) -> Path:
    """A model store at `directory` holding the appliance's default face models (BlazeFace,
    FaceMesh, dlib), taken from the installed packages as `appliance init` does; pass it as
    `models=` to `run_analyzer`. Safe to call again on the same directory."""
    from appliance.runtime import ModelStore
    from appliance.runtime.defaults import install_default_models

    root = Path(directory)
    install_default_models(ModelStore(root))
    return root


def spec_from_plugin(plugin: object, analysis_type: str) -> AnalyzerSpec:
    """The spec `plugin` (a module with `@hookimpl` functions) registers for `analysis_type`.

    The plugin goes through the same loading as on the appliance, so a missing `@hookimpl` or a
    misspelt hook fails here with the same PluginError.
    """
    name = getattr(plugin, "__name__", type(plugin).__name__)
    version = str(getattr(plugin, "__version__", UNVERSIONED))
    registry = start_plugins([PluginSource(plugin, name, version)]).registry
    spec = registry.get(analysis_type)
    if spec is None:
        raise LookupError(f"plugin {name} registers no analysis type {analysis_type}; it registers {registry.types()}")
    return spec


def media_input(path: Path | str, tags: Sequence[str] = (), media_id: str | None = None) -> MediaInput:
    """A `MediaInput` for the file at `path`, validated and probed with the appliance's default limits."""
    path = Path(path)
    probed = probe_file(path, Limits())
    return MediaInput.from_facts(
        probed, media_id=media_id or str(uuid.uuid4()), tags=tags, path=path, original_name=path.name
    )


@functools.cache
def _vision_for(root: Path) -> VisionService:
    from appliance.runtime import ModelRuntime, ModelStore

    return VisionService(ModelRuntime(ModelStore(root)), cache_dir=None)


def vision_service(models: Path | str | None = None) -> VisionService | None:
    """The face models of the model store at `models` (else $APPLIANCE_MODELS_ROOT), or None when
    neither is given; one service per store for the test session (models load once)."""
    root = models if models is not None else os.environ.get(MODELS_ENV)
    return _vision_for(Path(root).resolve()) if root else None


class PluginTestBed:
    """A plugin's `PluginServices` on a database and storage of its own, as the appliance lends them:
    the plugin's migrations applied, files under `directory`, signed links, the face models of
    `models`. `create_company()` adds a company, for the plugin's rows that belong to one."""

    def __init__(
        self, plugin: object, directory: Path | str, *, models: Path | str | None = None, database_url: str = ""
    ) -> None:
        from appliance.store import open_store
        from appliance.wire import UrlSigner

        directory = Path(directory)
        name = getattr(plugin, "__name__", type(plugin).__name__)
        host = start_plugins([PluginSource(plugin, name, str(getattr(plugin, "__version__", UNVERSIONED)))])
        self._store = open_store(database_url or f"sqlite:///{directory / 'appliance.db'}")
        self._store.migrate(host.migrations(self._store.dialect))
        urls = UrlSigner(uuid.uuid4().hex, "http://appliance.test", ttl_seconds=600)
        self.services: PluginServices = plugin_services(
            host,
            backend=self._store.backend,
            storage_root=directory / "media",
            limits=Limits(),
            urls=urls,
            vision=vision_service(models),
        )[name]

    def create_company(self, name: str | None = None) -> str:
        """A new company's id."""
        return _create_company(self._store, name)

    def close(self) -> None:
        self._store.close()


def _create_company(store: Store, name: str | None) -> str:
    from appliance.domain.entities import Company

    company = Company(company_id=str(uuid.uuid4()), name=name or f"Company {uuid.uuid4().hex[:8]}", webhook_secret="")
    return store.create_company(company).company_id


_CSRF_FIELD = re.compile(r'name="_csrf" value="([0-9a-f]+)"')


def csrf_token_of(html: str) -> str:
    """The CSRF token of the first form of a console page."""
    found = _CSRF_FIELD.search(html)
    if found is None:
        raise AssertionError("the page holds no form with a CSRF token")
    return found.group(1)


class ConsoleVisitor:
    """One browser of the operator console, without a browser: its cookies (the session and the
    CSRF nonce) in an httpx client, and the CSRF token of the last page it read. `log_in` through
    the login form, then `get` pages and `post` forms. Redirects are not followed."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.csrf = csrf_token_of(self.get("/console/login").text)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(path, **kwargs)
        if "_csrf" in response.text:
            self.csrf = csrf_token_of(response.text)
        return response

    def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        csrf: bool = True,
    ) -> httpx.Response:
        """POST a form (multipart when `files`, name -> (file name, content, type), are given), with
        the CSRF token of the last page read unless `csrf` is False."""
        form = {**(data or {}), **({"_csrf": self.csrf} if csrf else {})}
        return self.client.post(path, data=form, files=files)

    def log_in(self, email: str, password: str = TEST_PASSWORD) -> ConsoleVisitor:
        response = self.post("/console/login", {"email": email, "password": password})
        if response.status_code != 303:
            raise AssertionError(f"the console refused the login of {email}: {response.status_code} {response.text}")
        self.get("/console/folders")  # the forms of a session carry a token bound to it
        return self

    def close(self) -> None:
        self.client.close()


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
        import uvicorn

        from appliance.api.app import create_app
        from appliance.ops.settings import ApiSettings, MetricsSettings, Settings

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
        api_services = self._app.state.services
        self.services: PluginServices = api_services.plugin_services[api_services.plugins.name_of(plugin)]

    def _wait_until_started(self) -> None:
        deadline = time.monotonic() + self.START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the appliance server did not start (its error is logged above)")
            time.sleep(0.05)

    def create_company(self, name: str | None = None) -> str:
        """A new company's id."""
        return _create_company(self._app.state.services.store, name)

    def create_user(self, role: Role | str, company_id: str | None = None, *, is_admin: bool = False) -> str:
        """A new user of `role` (ADMIN and OPERATOR belong to no company; the others to `company_id`,
        a CLIENT may be its admin); their email. Their password is `TEST_PASSWORD`."""
        from appliance.auth.accounts import create_account
        from appliance.domain.enums import Role

        user_type = Role(role)
        email = f"{user_type.value.lower()}-{uuid.uuid4().hex[:8]}@appliance.test"
        create_account(
            self._app.state.services.store,
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

    def __enter__(self) -> ApplianceServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()


def run_analyzer(
    spec_or_analyzer: AnalyzerSpec | Analyzer,
    media: Sequence[tuple[Path | str, Sequence[str]]],
    params: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, float] | None = None,
    models: Path | str | None = None,
    services: PluginServices | None = None,
    company_id: str | None = None,
) -> Outcome:
    """Run an analysis on `media`, `(path, tags)` pairs in upload order, and return its outcome.

    `params` go over the spec's defaults; `thresholds` default to the appliance's defaults. A bare
    analyzer runs as type TEST with the default media rule and no default params. `models` is the
    model store `ctx.faces` uses (default $APPLIANCE_MODELS_ROOT; without either, it raises).
    `services` is what `ctx.services` gives (a `PluginTestBed`'s), `company_id` the folder's company.
    """
    if isinstance(spec_or_analyzer, AnalyzerSpec):
        spec = spec_or_analyzer
    else:
        spec = AnalyzerSpec(type=BARE_ANALYZER_TYPE, analyzer=spec_or_analyzer)
    site_thresholds = dict(thresholds) if thresholds is not None else msgspec.structs.asdict(Thresholds())
    request = build_request(
        spec,
        analysis_id=str(uuid.uuid4()),
        params=params,
        media=[media_input(path, tags) for path, tags in media],
        thresholds=site_thresholds,
        company_id=company_id,
    )
    ctx = AnalysisContext(site_thresholds, vision=vision_service(models), services=services)
    return check_outcome(request, spec.analyzer.analyze(request, ctx))


def paint_eyes_shut(rgb: np.ndarray, eyes: EyeLandmarks) -> np.ndarray:
    """A copy of the RGB image with the eyes whose lids are `eyes` painted shut (skin from under
    each eye over it, a dark line along the lower lid), for blink tests that need no recording.
    The iris model then measures each eye's openness at about 0.4 of what it was."""
    shut = rgb.copy()
    for lids in np.asarray(eyes.lids):
        mask = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillConvexPoly(mask, cv2.convexHull(lids.astype(np.int32)), 255)
        mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
        shut[mask > 0] = rgb[int(lids[:, 1].max()) + 5, int(lids[:, 0].mean())]
        lower_lid = lids[:9] - [0.0, 1.0]
        cv2.polylines(shut, [lower_lid.astype(np.int32)], False, (40, 30, 30), 2, cv2.LINE_AA)
    return shut
