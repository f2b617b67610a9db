"""The plugin test kit: run an analyzer on real files, the way the appliance runs it.

    from appliance.sdk.testing import run_analyzer, spec_from_plugin
    import my_plugin

    outcome = run_analyzer(spec_from_plugin(my_plugin, "MY_TYPE"), [(Path("selfie.jpg"), ["photo_selfie"])])
    assert outcome.resolution is Resolution.SUCCESS

Files are validated and probed as the appliance does on upload, the spec's default params and
media rule are applied by the same function the workers call, and the analyzer gets a real
`AnalysisContext`. `ctx.faces` needs face models: pass `models=` (a model store directory, as
`default_models(tmp_dir)` or `appliance init` fills) or set APPLIANCE_MODELS_ROOT.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import cv2
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

__all__ = [
    "PluginTestBed",
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
        from appliance.domain.entities import Company

        company = Company(
            company_id=str(uuid.uuid4()), name=name or f"Company {uuid.uuid4().hex[:8]}", webhook_secret=""
        )
        return self._store.create_company(company).company_id

    def close(self) -> None:
        self._store.close()


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
