"""The one checked run of an analysis, shared by the queue's workers and the instant mode.

`analyzer_for` finds the plugin that offers a type, `analyze` runs its analyzer once and checks
what it returned against the SDK's contract (`appliance.sdk.requests.check_outcome`: an `Outcome`
about the request's source media, output images that are JPEGs with safe, distinct names). A
plugin that raises is a `PluginRaised` (a worker retries it); an analysis that cannot succeed in
any attempt (no plugin offers its type, the plugin returned something the contract refuses) is an
`AnalysisFailed` carrying the code and message it is recorded with. Whoever runs the analysis,
the same outputs are refused with the same words.
"""

from __future__ import annotations

from typing import Any

from appliance.core.plugins import PluginHost
from appliance.domain.errors import ErrorCode
from appliance.ops import metrics
from appliance.sdk.context import AnalysisContext
from appliance.sdk.requests import OutcomeRefused, check_outcome
from appliance.sdk.types import AnalysisRequest, AnalyzerSpec, Outcome

__all__ = ["AnalysisFailed", "PluginRaised", "analyze", "analyzer_for", "results_media_items"]


class AnalysisFailed(Exception):
    """The analysis cannot succeed in any attempt: record it FAILED with this code and message."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class PluginRaised(Exception):
    """The plugin's `analyze` raised (the exception is the cause): one spent attempt."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def analyzer_for(plugins: PluginHost, analysis_type: str) -> AnalyzerSpec:
    """The spec of the plugin offering `analysis_type`; AnalysisFailed (ANALYSIS_NO_PLUGIN) without one."""
    spec = plugins.registry.get(analysis_type)
    if spec is None:
        raise AnalysisFailed(
            ErrorCode.ANALYSIS_NO_PLUGIN, f"no installed plugin provides analysis type {analysis_type.strip().upper()}"
        )
    return spec


def analyze(spec: AnalyzerSpec, request: AnalysisRequest, context: AnalysisContext) -> Outcome:
    """Run `spec`'s analyzer once on `request` (timed as the `analyze` stage) and return its
    outcome once checked. PluginRaised when it raises; AnalysisFailed (ANALYSIS_PLUGIN_ERROR)
    when what it returns breaks the contract."""
    with metrics.stage("analyze"):
        try:
            outcome: object = spec.analyzer.analyze(request, context)
        except Exception as exc:  # a plugin may raise anything: the caller decides what an attempt costs
            raise PluginRaised(exc) from exc
    try:
        return check_outcome(request, outcome)
    except OutcomeRefused as exc:
        raise AnalysisFailed(ErrorCode.ANALYSIS_PLUGIN_ERROR, str(exc)) from exc


def results_media_items(outcome: Outcome) -> list[dict[str, Any]]:
    """The `results_media` of an analysis with this outcome: per source media its numbers and the
    names of its output images (which the worker stores, and the instant mode sends inline)."""
    return [
        {
            "source_media_id": result.media_id,
            "results_data": result.results_data,
            "output_images": [{"name": image.name} for image in result.output_images],
        }
        for result in outcome.results_media
    ]
