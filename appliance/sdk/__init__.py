"""The public plugin API: the only part of the appliance a plugin may import.

Built-in and third-party plugins alike import from here (and test with
`appliance.sdk.testing`), never from the appliance's other packages: what a plugin needs, the
SDK offers, documented and tested. docs/writing-plugins.md walks through writing one.

- `hookimpl` marks a plugin's hook implementations; the hooks are in `appliance.sdk.hookspecs`.
- `AnalyzerRegistry` is what `register_analyzers(registry)` receives; `AnalyzerSpec` describes
  one analysis type, `MediaRule` the media it takes when the caller names none.
- `AnalysisRequest`, `MediaInput` and `AnalysisContext` are what `analyze(request, ctx)` receives;
  `Outcome`, `MediaResult` and `OutputImage` are what it returns; an outcome that breaks the
  rules (results for other media, output images that are no JPEG or badly named) is refused with
  `OutcomeRefused`, wherever the analysis runs.
- `ctx.faces(media)` gives a media's `FaceTrack` (its `TrackFrame`s with `FaceDetection`s,
  `FaceQuality`, `FaceLandmarks`, `EyeLandmarks`, `FaceReason`s, and the best face's
  `Embedding`); `distance` compares two embeddings of one space, `eye_openness` measures an eyelid
  contour.
- `DoctorCheck` is what the optional `doctor_checks()` hook returns: checks `appliance doctor` shows.
- `ctx.models(task)` gives the store's active models of a task (e.g. `presentation_attack`) as
  `ModelHandle`s: name, version, sha256, card params, and `run(inputs) -> outputs`.
- `calibration_for(space)` maps an embedding distance to the match confidence every face
  comparison reports (`Calibration`, `CALIBRATIONS`), and gives the space's calibrated
  `OperatingPoint`s (`default`: FMR 1e-3, `strict`: 1e-4; `OPERATING_POINTS`).
- `ctx.services` (and, in a plugin's API routes, `appliance.sdk.web`) is the plugin's
  `PluginServices`: its tables (`PluginDatabase`, created by the `database_migrations` hook), its
  checked files (`PluginFiles`, `StoredFile`), its data directory and the face pipeline.
- The console pages a plugin adds (`register_console_pages`) work with `appliance.sdk.console`.
- `BackgroundWork` is what the optional `background_work()` hook returns: work on the plugin's own
  data that a maintenance worker runs in steps, with its `WorkProgress` (`appliance.sdk.background`).
"""

from __future__ import annotations

from appliance.domain.enums import MediaKind, Resolution
from appliance.domain.rules import MediaRule
from appliance.sdk.background import BackgroundWork, WorkProgress
from appliance.sdk.context import AnalysisContext, ModelHandle
from appliance.sdk.errors import FaceModelsUnavailable, PluginServicesUnavailable
from appliance.sdk.hookspecs import hookimpl
from appliance.sdk.registry import AnalyzerRegistry, PluginError
from appliance.sdk.requests import OutcomeRefused
from appliance.sdk.services import ActiveEmbedding, PluginDatabase, PluginFiles, PluginServices, StoredFile
from appliance.sdk.types import (
    AnalysisRequest,
    Analyzer,
    AnalyzerSpec,
    DoctorCheck,
    MediaInput,
    MediaResult,
    Outcome,
    OutputImage,
)
from appliance.vision.calibration import CALIBRATIONS, OPERATING_POINTS, Calibration, OperatingPoint, calibration_for
from appliance.vision.detector import FaceDetection
from appliance.vision.embedding import Embedding, distance
from appliance.vision.eyes import EyeLandmarks, eye_openness
from appliance.vision.landmarks import FaceLandmarks
from appliance.vision.quality import FaceQuality, FaceReason
from appliance.vision.service import DEFAULT_MAX_FRAMES
from appliance.vision.track import FaceTrack, TrackFrame

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "ActiveEmbedding",
    "CALIBRATIONS",
    "AnalysisContext",
    "AnalysisRequest",
    "Analyzer",
    "AnalyzerRegistry",
    "AnalyzerSpec",
    "BackgroundWork",
    "Calibration",
    "DoctorCheck",
    "Embedding",
    "EyeLandmarks",
    "FaceDetection",
    "FaceLandmarks",
    "FaceModelsUnavailable",
    "FaceQuality",
    "FaceReason",
    "FaceTrack",
    "MediaInput",
    "MediaKind",
    "MediaResult",
    "MediaRule",
    "ModelHandle",
    "OPERATING_POINTS",
    "OperatingPoint",
    "Outcome",
    "OutcomeRefused",
    "OutputImage",
    "PluginError",
    "PluginDatabase",
    "PluginFiles",
    "PluginServices",
    "PluginServicesUnavailable",
    "Resolution",
    "StoredFile",
    "TrackFrame",
    "WorkProgress",
    "calibration_for",
    "distance",
    "eye_openness",
    "hookimpl",
]
