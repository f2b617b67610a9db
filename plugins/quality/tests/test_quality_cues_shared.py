"""Every cue on real attacks: the shared PAD samples, measured as the plugin measures them.

Each cue must rank the attacks of a source apart from its live media where bench/pad_eval.py
measured that it does (area under the curve, 0.5 for a cue that returns a constant). Which way a
model-free cue points depends on the source (one screen is colder than the room, another warmer):
the fusion learns how much to trust each; here each cue only has to see the difference it saw.
Skipped without the shared data."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from appliance_plugin_quality.fusion import measure

from appliance.sdk import AnalysisContext
from appliance.sdk.testing import default_models, media_input, vision_service
from tests.support.recipes import load_recipe

ROOT = Path(__file__).resolve().parents[3]
SHARED = Path(__import__("os").environ.get("APPLIANCE_TEST_DATA") or ROOT.parent / "shared" / "data")
SKIP_REASON = "shared test data directory absent (set APPLIANCE_TEST_DATA)"

pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not (SHARED / "manifest.csv").is_file(), reason=SKIP_REASON),
]

#: Media per class and source measured here (spread over the manifest's order).
PER_CLASS = 8

#: cue -> (sources, whether attacks score higher): measured with bench/pad_eval.py (AUC 0.93-1.0).
SEPARATES: dict[str, tuple[tuple[str, ...], bool]] = {
    "pad:minifasnet-v2se": (("Krzysiek354/Python_Face_Detection", "WOLF-huo/face_liveness"), True),
    "pad:silentface-v2-2.7": (("pourfard/FaceAntiSpoofing",), True),
    "pad:silentface-v1se-4.0": (("pourfard/FaceAntiSpoofing",), True),
    "pad:syaringan-fas": (("Krzysiek354/Python_Face_Detection", "WOLF-huo/face_liveness"), True),
    "spectral": (("WOLF-huo/face_liveness",), True),
    "glare": (("VishalkrishnaBlaze/Liveness-detection", "TrickyF0x/twoFactorLivenessDetection"), True),
    "flatness": (("Apfol/liveness-detection-opencv", "TrickyF0x/twoFactorLivenessDetection"), True),
    "blur": (("TrickyF0x/twoFactorLivenessDetection",), False),
    "gamut": (("Apfol/liveness-detection-opencv", "TrickyF0x/twoFactorLivenessDetection"), True),
    "colour_cast": (("Apfol/liveness-detection-opencv", "Krzysiek354/Python_Face_Detection"), True),
    "colour_texture": (("Apfol/liveness-detection-opencv",), False),
}


def _auc(attacks: Sequence[float], live: Sequence[float]) -> float:
    a, b = np.asarray(attacks)[:, None], np.asarray(live)[None, :]
    return float(np.mean((a > b) + 0.5 * (a == b)))


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[bool, dict[str, float]]]]:
    """source -> (is attack, cue values) of up to PER_CLASS live and PER_CLASS attack media of each
    source named in SEPARATES, measured with every PAD model of the shared data installed."""
    recipe = load_recipe("liveness")
    store = default_models(tmp_path_factory.mktemp("models"))
    recipe.install_pad_models(store, recipe.prepare_pad_models(SHARED / "models", tmp_path_factory.mktemp("work")))
    vision = vision_service(store)
    wanted = {source for sources, _ in SEPARATES.values() for source in sources}
    found: dict[str, list[tuple[bool, dict[str, float]]]] = {}
    for source in sorted(wanted):
        for attack in (False, True):
            samples = [s for s in recipe.read_samples(SHARED) if s.source == source and s.is_attack is attack]
            picks = np.linspace(0, len(samples) - 1, min(PER_CLASS, len(samples))).round().astype(int)
            for sample in (samples[i] for i in sorted(set(picks.tolist()))):
                ctx = AnalysisContext({"liveness": 0.5}, vision=vision)
                media = media_input(sample.path)
                result = measure(ctx, media, ctx.faces(media))
                assert result is not None, f"no face in {sample.name}"
                found.setdefault(source, []).append((attack, {c.name: c.value for c in result.cues}))
    return found


@pytest.mark.parametrize("cue", sorted(SEPARATES))
def test_each_cue_tells_attacks_from_live_media_where_it_was_measured_to(
    measured: dict[str, list[tuple[bool, dict[str, float]]]], cue: str
) -> None:
    sources, attacks_higher = SEPARATES[cue]
    for source in sources:
        values = [(attack, cues[cue]) for attack, cues in measured[source] if cue in cues]
        attacks = [v for attack, v in values if attack]
        live = [v for attack, v in values if not attack]
        assert len(attacks) >= 3 and len(live) >= 3, f"{cue} was measured on too few media of {source}"
        auc = _auc(attacks, live) if attacks_higher else _auc(live, attacks)
        assert auc >= 0.8, f"{cue} on {source}: AUC {auc:.2f}"


def test_models_that_need_surroundings_do_not_judge_tight_crops(
    measured: dict[str, list[tuple[bool, dict[str, float]]]],
) -> None:
    crops = measured["Krzysiek354/Python_Face_Detection"]  # face crops: the face fills the frame
    photos = measured["pourfard/FaceAntiSpoofing"]  # webcam frames: the face and the room around it
    for cue in ("pad:silentface-v2-2.7", "pad:silentface-v1se-4.0", "bezel"):
        assert all(cue not in cues for _, cues in crops), cue
    for cue in ("pad:silentface-v2-2.7", "pad:minifasnet-v2se", "pad:syaringan-fas", "bezel"):
        assert sum(cue in cues for _, cues in photos) >= len(photos) - 1, cue


def test_the_replayed_video_moves_as_a_plane_and_the_live_one_does_not(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    vision = vision_service(default_models(tmp_path_factory.mktemp("face-models")))
    cues = {}
    for name in ("pad/live/zubair_real.mov", "pad/spoof/zubair_fake.mp4"):
        ctx = AnalysisContext({"liveness": 0.5}, vision=vision)
        media = media_input(SHARED / name)
        result = measure(ctx, media, ctx.faces(media))
        assert result is not None
        cues[name.split("/")[1]] = {c.name: c.value for c in result.cues}
    live, replay = cues["live"], cues["spoof"]
    assert replay["planarity"] < live["planarity"] - 0.3  # log10 of the residual: a third of it, or less
    assert replay["micro_motion"] < live["micro_motion"]
