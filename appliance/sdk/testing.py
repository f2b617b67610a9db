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

`spec_from_plugin`, `PluginTestBed` and `ApplianceServer` run the plugin through the appliance
itself (its plugin host, its database, its API): they live on the host's side, in
`appliance.testkit`, and this module loads them when they are first used. Importing this module,
like any module of the SDK, loads nothing of the appliance above the SDK (docs/architecture.md,
"The layer contract").
"""

from __future__ import annotations

import functools
import os
import re
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import httpx
import msgspec
import numpy as np

from appliance.media.probe import probe_file
from appliance.ops.settings import Limits, Thresholds
from appliance.runtime import ModelRuntime, ModelStore
from appliance.runtime.defaults import install_default_models
from appliance.sdk.context import AnalysisContext
from appliance.sdk.requests import build_request, check_outcome
from appliance.sdk.services import PluginServices
from appliance.sdk.types import Analyzer, AnalyzerSpec, MediaInput, Outcome
from appliance.vision.eyes import EyeLandmarks
from appliance.vision.service import VisionService

if TYPE_CHECKING:
    from appliance.testkit import ApplianceServer, PluginTestBed, spec_from_plugin

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
    root = Path(directory)
    install_default_models(ModelStore(root))
    return root


def media_input(path: Path | str, tags: Sequence[str] = (), media_id: str | None = None) -> MediaInput:
    """A `MediaInput` for the file at `path`, validated and probed with the appliance's default limits."""
    path = Path(path)
    probed = probe_file(path, Limits())
    return MediaInput.from_facts(
        probed, media_id=media_id or str(uuid.uuid4()), tags=tags, path=path, original_name=path.name
    )


@functools.cache
def _vision_for(root: Path) -> VisionService:
    return VisionService(ModelRuntime(ModelStore(root)), cache_dir=None)


def vision_service(models: Path | str | None = None) -> VisionService | None:
    """The face models of the model store at `models` (else $APPLIANCE_MODELS_ROOT), or None when
    neither is given; one service per store for the test session (models load once)."""
    root = models if models is not None else os.environ.get(MODELS_ENV)
    return _vision_for(Path(root).resolve()) if root else None


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
        eye = np.zeros(rgb.shape[:2], np.uint8)
        cv2.fillConvexPoly(eye, cv2.convexHull(lids.astype(np.int32)), 255)
        mask = cv2.dilate(eye, np.ones((5, 5), np.uint8))
        shut[mask > 0] = rgb[int(lids[:, 1].max()) + 5, int(lids[:, 0].mean())]
        lower_lid = lids[:9] - [0.0, 1.0]
        cv2.polylines(shut, [lower_lid.astype(np.int32)], False, (40, 30, 30), 2, cv2.LINE_AA)
    return shut


#: The names of this module that run a plugin through the appliance itself (see the module's docstring).
HOST_SIDE_NAMES = frozenset({"ApplianceServer", "PluginTestBed", "spec_from_plugin"})


def __getattr__(name: str) -> Any:
    """`spec_from_plugin`, `PluginTestBed` and `ApplianceServer`, from the host's side of the kit."""
    if name not in HOST_SIDE_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # The one import of a module above the SDK that the layer contract allows the SDK, made on
    # first use (.importlinter lists it; docs/architecture.md, "The layer contract").
    import appliance.testkit

    return getattr(appliance.testkit, name)
