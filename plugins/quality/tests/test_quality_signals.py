"""Model-free attack signals on real faces: the astronaut re-rendered as attacks, and shared PAD media."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest
from appliance_plugin_quality import signals
from appliance_plugin_quality.fusion import RULES, assess, fuse
from skimage import data

from appliance.sdk import AnalysisContext, FaceTrack
from appliance.sdk.testing import default_models, media_input, vision_service

SHARED = Path(os.environ.get("APPLIANCE_TEST_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
SKIP_REASON = "shared test data directory absent (set APPLIANCE_TEST_DATA)"
needs_pad = pytest.mark.skipif(not (SHARED / "pad").is_dir(), reason=SKIP_REASON)

#: The astronaut's face in `skimage.data.astronaut()`: (x0, y0, x1, y1).
FACE = (175, 76, 265, 166)


@pytest.fixture(scope="module")
def face_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return default_models(tmp_path_factory.mktemp("models"))


def screen_replay(rgb: np.ndarray, period: float = 3.0, angle: float = 0.3) -> np.ndarray:
    """The photo as a camera sees it on a screen: a moire grating over it (pixel grid against sensor)."""
    yy, xx = np.mgrid[: rgb.shape[0], : rgb.shape[1]]
    grating = 0.5 + 0.5 * np.sin(2 * np.pi * (xx * np.cos(angle) + yy * np.sin(angle)) / period)
    return np.clip(rgb * (1 - 0.25 * grating)[..., None], 0, 255).astype(np.uint8)


def halftone_print(rgb: np.ndarray, cell: int = 4) -> np.ndarray:
    """The photo printed with a halftone screen: ink dots on a grid, sized by darkness."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255
    yy, xx = np.mgrid[: gray.shape[0], : gray.shape[1]]
    dist = np.hypot(xx % cell - cell / 2 + 0.5, yy % cell - cell / 2 + 0.5) / (cell / np.sqrt(2))
    paper = ~(dist < np.sqrt(1 - gray) * 0.9)
    return np.clip(rgb * 0.35 + 255 * 0.65 * paper[..., None], 0, 255).astype(np.uint8)


def glare(rgb: np.ndarray) -> np.ndarray:
    """A glossy print under a lamp: a large saturated patch over the face."""
    out = rgb.copy()
    cv2.circle(out, (220, 115), 30, (255, 255, 255), -1)
    return out


def test_the_camera_photo_has_no_screen_or_print_cue() -> None:
    rgb = data.astronaut()
    jpeg = cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", rgb)[1], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for image in (rgb, jpeg):
        found = {s.name: s for s in signals.static_signals(image, FACE)}
        assert set(found) == {"spectral", "specular"}
        assert found["spectral"].score < 0.1 and found["specular"].score < 0.1
        assert 0 <= found["spectral"].raw["hf_energy"] <= 1


@pytest.mark.parametrize("attack", [screen_replay, halftone_print], ids=["screen", "print"])
def test_moire_and_halftone_raise_the_spectral_cue(attack) -> None:
    rgb = data.astronaut()
    before = signals.spectral(rgb, FACE)
    after = signals.spectral(attack(rgb), FACE)
    assert before is not None and after is not None
    assert after.raw["peak_ratio"] > before.raw["peak_ratio"] + 1.0
    assert after.score > 0.9
    assert before.score < 0.1


def test_glare_raises_the_specular_cue() -> None:
    rgb = data.astronaut()
    before, after = signals.specular(rgb, FACE), signals.specular(glare(rgb), FACE)
    assert before is not None and after is not None
    assert after.raw["saturated"] > 0.15 and after.score > 0.9
    assert before.score < 0.1


def test_a_face_too_small_gives_no_static_cue() -> None:
    assert signals.static_signals(data.astronaut(), (200, 100, 210, 110)) == []


def _astronaut_landmarks(face_store: Path, tmp_path: Path) -> np.ndarray:
    path = tmp_path / "astronaut.jpg"
    cv2.imwrite(str(path), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    track = AnalysisContext({}, vision=vision_service(face_store)).faces(media_input(path))
    assert track.landmarks is not None
    return np.asarray(track.landmarks.points, dtype=np.float64)


class _Landmarks:
    def __init__(self, points: np.ndarray) -> None:
        self.points = points


def _turned(points: np.ndarray, yaw: float, shift: float = 0.0) -> _Landmarks:
    """The 3D landmarks turned about the vertical axis through the face centre, then projected."""
    centre = points.mean(axis=0)
    p = points - centre
    c, s = np.cos(yaw), np.sin(yaw)
    x = c * p[:, 0] + s * p[:, 2]
    z = -s * p[:, 0] + c * p[:, 2]
    return _Landmarks(np.stack([x + centre[0] + shift, p[:, 1] + centre[1], z], axis=1))


def _as_plane(points: np.ndarray, k: float) -> _Landmarks:
    """The landmarks as a held photo gives them: the flat picture tilted (a homography), plus jitter."""
    src = np.float32([[150, 50], [290, 50], [290, 190], [150, 190]])
    dst = src + np.float32([[k, 0], [-k, k / 2], [-k, -k / 2], [k, 0]]) + np.float32([2 * k, k])
    h = cv2.getPerspectiveTransform(src, dst)
    xy = cv2.perspectiveTransform(points[:, None, :2].astype(np.float32), h)[:, 0]
    xy += np.random.default_rng(int(k * 10)).normal(0, 0.15, xy.shape)
    return _Landmarks(np.concatenate([xy, points[:, 2:]], axis=1))


def test_a_plane_moves_as_one_and_a_turning_head_does_not(face_store: Path, tmp_path: Path) -> None:
    points = _astronaut_landmarks(face_store, tmp_path)
    photo = [_as_plane(points, k) for k in (0.0, 6.0, 12.0, 18.0, 12.0, 6.0)]
    head = [_turned(points, yaw, shift) for yaw, shift in ((0.0, 0), (0.35, 12), (0.7, 24), (0.35, 12), (-0.3, 0))]
    plane, turning = signals.planarity(photo), signals.planarity(head)
    assert plane is not None and turning is not None
    assert plane.raw["residual"] < 0.005
    assert turning.raw["residual"] > 0.015
    assert plane.score > 0.8 and turning.score < 0.2
    # a face that does not move says nothing about planes
    assert signals.planarity([_Landmarks(points)] * 5) is None


def test_eyes_and_mouth_that_move_are_live_like(face_store: Path, tmp_path: Path) -> None:
    points = _astronaut_landmarks(face_store, tmp_path)
    still = [_as_plane(points, k) for k in (0.0, 4.0, 8.0, 4.0)]
    moving = []
    for t, k in enumerate((0.0, 4.0, 8.0, 4.0)):
        frame = _as_plane(points, k).points.copy()
        lids = list(signals._RIGHT_EYE[2:] + signals._LEFT_EYE[2:])  # upper and lower lids close in a blink
        frame[lids, 1] = frame[lids, 1].mean() if t % 2 else frame[lids, 1]
        frame[14, 1] += 12 * (t % 2)  # the lower lip drops: speech
        moving.append(_Landmarks(frame))
    quiet, lively = signals.micro_motion(still), signals.micro_motion(moving)
    assert quiet is not None and lively is not None
    assert quiet.score > 0.8 and lively.score < 0.1
    assert signals.micro_motion(still[:2]) is None


def test_fusion_rule_clips_and_weights_each_source() -> None:
    assert fuse(None, []) == (None, {})
    confidence, terms = fuse(0.999999, [signals.Signal("spectral", 0.01)])
    assert terms == {"pad": RULES["pad"].weight * RULES["pad"].low, "spectral": RULES["spectral"].weight * -0.5}
    assert confidence is not None and confidence < 0.01
    # silence of an attack-only cue cannot outvote a PAD model that sees an attack
    confidence, _ = fuse(0.05, [signals.Signal("spectral", 0.0), signals.Signal("specular", 0.0)])
    assert confidence is not None and confidence > 0.5
    # with no model, a strong moire cue alone decides "attack"
    confidence, _ = fuse(None, [signals.Signal("spectral", 0.999), signals.Signal("specular", 0.02)])
    assert confidence is not None and confidence > 0.5


def _held_photo_video(path: Path, frames: int = 30, side: int = 480) -> Path:
    """The astronaut photo held up to the camera and waved: it moves and tilts as one plane."""
    rgb = data.astronaut()
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 15, (side, side))
    src = np.float32([[0, 0], [511, 0], [511, 511], [0, 511]])
    for i in range(frames):
        t = i / frames * 2 * np.pi
        dx, dy, k = 30 * np.sin(t), 20 * np.cos(t), 40 * np.sin(t)
        dst = np.float32(
            [
                [20 + dx + k, 20 + dy],
                [460 + dx - k, 20 + dy + k / 2],
                [460 + dx - k, 460 + dy - k / 2],
                [20 + dx + k, 460 + dy],
            ]
        )
        frame = cv2.warpPerspective(rgb, cv2.getPerspectiveTransform(src, dst), (side, side), borderValue=(90, 90, 90))
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _passive(store: Path, path: Path, use_models: bool = True):
    ctx = AnalysisContext({"liveness": 0.5}, vision=vision_service(store))
    media = media_input(path)
    dict(ctx.frames(media, 16))
    track: FaceTrack = ctx.faces(media)
    return assess(ctx, media, track, use_models=use_models)


def test_a_held_photo_video_is_an_attack_without_any_model(face_store: Path, tmp_path: Path) -> None:
    result = _passive(face_store, _held_photo_video(tmp_path / "held.mp4"))
    assert result.pad.detectors == [] and result.pad.p_live is None
    assert result.detectors == ["spectral", "specular", "planarity", "micro_motion"]
    planarity = result.signals[2]
    assert planarity.score > 0.8 and planarity.raw["motion"] > 0.08
    assert result.is_attack is True and result.confidence_spoofing is not None
    assert set(result.timings_ms) == {"pad", "static", "motion"}


@pytest.mark.shared_data
@needs_pad
def test_the_replay_video_is_an_attack_and_the_live_one_live_without_any_model(face_store: Path) -> None:
    real = _passive(face_store, SHARED / "pad" / "live" / "zubair_real.mov")
    fake = _passive(face_store, SHARED / "pad" / "spoof" / "zubair_fake.mp4")
    by_name = {s.name: s for s in real.signals}, {s.name: s for s in fake.signals}
    assert by_name[0]["planarity"].raw["residual"] > 2 * by_name[1]["planarity"].raw["residual"]
    assert real.is_attack is False and fake.is_attack is True


def test_scores_saturate_instead_of_overflowing() -> None:
    assert signals._logistic(1e6, 1.0, -0.2) < 1e-300 and signals._logistic(-1e6, 1.0, -0.2) == 1.0
    assert signals._logistic(1.0, 1.0, -0.2) == 0.5
