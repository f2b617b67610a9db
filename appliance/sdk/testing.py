"""The plugin test kit: run an analyzer on real files, the way the appliance runs it.

    from appliance.sdk.testing import run_analyzer, spec_from_plugin
    import my_plugin

    outcome = run_analyzer(spec_from_plugin(my_plugin, "MY_TYPE"), [(Path("selfie.jpg"), ["photo_selfie"])])
    assert outcome.resolution is Resolution.SUCCESS

Files are validated and probed as the appliance does on upload, the spec's default params and
media rule are applied by the same function the workers call, and the analyzer gets a real
`AnalysisContext`.
"""

from __future__ import annotations

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

__all__ = ["media_input", "run_analyzer", "spec_from_plugin"]

#: The type a bare analyzer passed to `run_analyzer` runs under.
BARE_ANALYZER_TYPE = "TEST"


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


def run_analyzer(
    spec_or_analyzer: AnalyzerSpec | Analyzer,
    media: Sequence[tuple[Path | str, Sequence[str]]],
    params: Mapping[str, Any] | None = None,
    thresholds: Mapping[str, float] | None = None,
) -> Outcome:
    """Run an analysis on `media`, `(path, tags)` pairs in upload order, and return its outcome.

    `params` go over the spec's defaults; `thresholds` default to the appliance's defaults. A bare
    analyzer runs as type TEST with the default media rule and no default params.
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
    return check_outcome(request, spec.analyzer.analyze(request, AnalysisContext(site_thresholds)))
