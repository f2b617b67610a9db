"""The plugin test kit: run an analyzer on real files, the way the appliance runs it.

    from appliance.sdk.testing import run_analyzer, spec_from_plugin
    import my_plugin

    outcome = run_analyzer(spec_from_plugin(my_plugin, "MY_TYPE"), [(Path("selfie.jpg"), ["photo_selfie"])])
    assert outcome.resolution is Resolution.SUCCESS

Files are validated and probed as the appliance does on upload, the spec's default params and
media rule are applied by the same function the workers call, and the analyzer gets a real
`AnalysisContext`. `ctx.faces` needs face models: pass `models=` (a model store directory, as
`default_models(tmp_dir)` or `appliance models install-defaults` fills) or set APPLIANCE_MODELS_ROOT.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from appliance.media.probe import probe_file
from appliance.ops.settings import Limits, Thresholds
from appliance.sdk.context import AnalysisContext
from appliance.sdk.host import UNVERSIONED, PluginSource, start_plugins
from appliance.sdk.requests import build_request, check_outcome
from appliance.sdk.types import Analyzer, AnalyzerSpec, MediaInput, Outcome
from appliance.vision.service import VisionService

__all__ = ["default_models", "media_input", "run_analyzer", "spec_from_plugin", "vision_service"]

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


def run_analyzer(
    spec_or_analyzer: AnalyzerSpec | Analyzer,
    media: Sequence[tuple[Path | str, Sequence[str]]],
    params: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, float] | None = None,
    models: Path | str | None = None,
) -> Outcome:
    """Run an analysis on `media`, `(path, tags)` pairs in upload order, and return its outcome.

    `params` go over the spec's defaults; `thresholds` default to the appliance's defaults. A bare
    analyzer runs as type TEST with the default media rule and no default params. `models` is the
    model store `ctx.faces` uses (default $APPLIANCE_MODELS_ROOT; without either, it raises).
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
    )
    ctx = AnalysisContext(site_thresholds, vision=vision_service(models))
    return check_outcome(request, spec.analyzer.analyze(request, ctx))
