"""Model-free cues on real faces: the astronaut re-rendered as attacks, and videos made from it.

Every cue must move the way its docstring says on media where what it measures is known to be
there or not: a cue wired to return a constant fails here. The same cues on the shared attack
samples are in test_quality_cues_shared.py."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from appliance_plugin_quality import forensics, motion
from appliance_plugin_quality.cues import Cue, CueName
from appliance_plugin_quality.fusion import DEFAULT_RULE, assess
from skimage import data

from appliance.sdk import AnalysisContext
from appliance.sdk.testing import default_models, media_input, vision_service

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


def cold_screen(rgb: np.ndarray) -> np.ndarray:
    """The photo on a screen with a cold white point and a narrow gamut: colours pulled towards a bluish grey."""
    grey = cv2.cvtColor(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB).astype(np.float32)
    washed = 0.45 * rgb.astype(np.float32) + 0.55 * grey
    return np.clip(washed * np.array([0.9, 0.97, 1.15]), 0, 255).astype(np.uint8)


#: Where `in_a_phone` shows the astronaut's face.
FACE_IN_PHONE = (FACE[0] - 110 + 240, FACE[1] - 20 + 200, FACE[2] - 110 + 240, FACE[3] - 20 + 200)


def in_a_phone(rgb: np.ndarray) -> np.ndarray:
    """The head and shoulders of the photo shown on a phone held in front of a wall: a dark bezel with
    straight edges around the face."""
    wall = np.full((700, 700, 3), (150, 140, 120), np.uint8)
    cv2.rectangle(wall, (220, 170), (480, 510), (20, 20, 20), -1)  # the phone's body
    wall[200:480, 240:460] = rgb[20:300, 110:330]  # its screen
    return wall


def _cue(cues: list[Cue], name: str) -> Cue:
    (found,) = [c for c in cues if c.name == name]
    return found


def test_the_camera_photo_has_every_static_cue_and_none_says_attack() -> None:
    rgb = data.astronaut()
    jpeg = cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", rgb)[1], cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    for image in (rgb, jpeg):
        cues = {c.name: c for c in forensics.image_cues(image, FACE)}
        assert set(cues) == set(CueName) - {CueName.PLANARITY, CueName.MICRO_MOTION}
        for name in (CueName.SPECTRAL, CueName.GLARE, CueName.FLATNESS):
            assert DEFAULT_RULE[name].term(cues[name].value) <= 0, name
        assert 0 <= cues[CueName.SPECTRAL].raw["hf_energy"] <= 1


@pytest.mark.parametrize("attack", [screen_replay, halftone_print], ids=["screen", "print"])
def test_moire_and_halftone_raise_the_spectral_cue(attack) -> None:
    rgb = data.astronaut()
    before, after = forensics.spectral(rgb, FACE), forensics.spectral(attack(rgb), FACE)
    assert before is not None and after is not None
    assert after.value > before.value + 1.0
    assert DEFAULT_RULE[CueName.SPECTRAL].term(after.value) > 1.5 > DEFAULT_RULE[CueName.SPECTRAL].term(before.value)


def test_glare_raises_the_glare_cue_and_a_washed_out_face_the_flatness_cue() -> None:
    rgb = data.astronaut()
    before, lamp = forensics.glare_and_flatness(rgb, FACE), forensics.glare_and_flatness(glare(rgb), FACE)
    assert _cue(lamp, CueName.GLARE).value > 0.15 and _cue(before, CueName.GLARE).value < 0.01
    flat = np.full_like(rgb, 128)
    flat[..., 0] = 129
    washed = forensics.glare_and_flatness(flat, FACE)
    assert _cue(washed, CueName.FLATNESS).value < 0.5 and _cue(before, CueName.FLATNESS).value > 5


def test_a_recapture_is_softer() -> None:
    rgb = data.astronaut()
    sharp, soft = forensics.blur(rgb, FACE), forensics.blur(cv2.GaussianBlur(rgb, (0, 0), 1.5), FACE)
    assert sharp is not None and soft is not None
    assert sharp.value > soft.value + 0.5


def test_a_cold_narrow_screen_lowers_the_gamut_and_raises_the_blue_cast() -> None:
    rgb = data.astronaut()
    camera, screen = forensics.colour_cues(rgb, FACE), forensics.colour_cues(cold_screen(rgb), FACE)
    assert _cue(screen, CueName.GAMUT).value < 0.7 * _cue(camera, CueName.GAMUT).value
    assert _cue(screen, CueName.COLOUR_CAST).value > _cue(camera, CueName.COLOUR_CAST).value + 5


def test_smoothed_chroma_lowers_the_colour_texture() -> None:
    rgb = data.astronaut()
    ycc = cv2.cvtColor(rgb, cv2.COLOR_RGB2YCrCb)
    ycc[..., 1:] = cv2.GaussianBlur(ycc[..., 1:], (0, 0), 3)  # a recapture's chroma: no fine texture left
    smooth = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    camera, recaptured = forensics.colour_texture(rgb, FACE), forensics.colour_texture(smooth, FACE)
    assert camera is not None and recaptured is not None
    assert recaptured.value < camera.value - 0.3
    assert set(camera.raw) == {"cr", "cb", "h", "s"}


def test_a_phone_bezel_around_the_face_is_found_and_a_tight_crop_has_none() -> None:
    rgb = data.astronaut()
    held, plain = forensics.bezel(in_a_phone(rgb), FACE_IN_PHONE), forensics.bezel(rgb, FACE)
    assert held is not None and plain is not None
    assert held.value > 2.0 and held.value > plain.value + 1.0
    x0, y0, x1, y1 = FACE
    assert forensics.bezel(np.ascontiguousarray(rgb[y0:y1, x0:x1]), (0, 0, x1 - x0, y1 - y0)) is None


def test_a_face_too_small_gives_no_static_cue() -> None:
    assert forensics.image_cues(data.astronaut(), (200, 100, 210, 110)) == []


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
    plane, turning = motion.planarity(photo), motion.planarity(head)
    assert plane is not None and turning is not None
    assert plane.raw["residual"] < 0.005 and turning.raw["residual"] > 0.015
    rule = DEFAULT_RULE[CueName.PLANARITY]
    assert rule.term(plane.value) > 1.5 and rule.term(turning.value) < -1.5
    # a face that does not move says nothing about planes
    assert motion.planarity([_Landmarks(points)] * 5) is None


def test_eyes_and_mouth_that_move_are_live_like(face_store: Path, tmp_path: Path) -> None:
    points = _astronaut_landmarks(face_store, tmp_path)
    still = [_as_plane(points, k) for k in (0.0, 4.0, 8.0, 4.0)]
    moving = []
    for t, k in enumerate((0.0, 4.0, 8.0, 4.0)):
        frame = _as_plane(points, k).points.copy()
        lids = list(motion.RIGHT_EYE[2:] + motion.LEFT_EYE[2:])  # upper and lower lids close in a blink
        frame[lids, 1] = frame[lids, 1].mean() if t % 2 else frame[lids, 1]
        frame[14, 1] += 12 * (t % 2)  # the lower lip drops: speech
        moving.append(_Landmarks(frame))
    quiet, lively = motion.micro_motion(still), motion.micro_motion(moving)
    assert quiet is not None and lively is not None
    assert quiet.value < 0.7 and lively.value > 2.0
    assert motion.micro_motion(still[:2]) is None


def test_the_default_rule_clips_each_cue() -> None:
    rule = DEFAULT_RULE[CueName.SPECTRAL]
    assert rule.term(100.0) == pytest.approx(rule.weight * rule.high)
    assert rule.term(-100.0) == pytest.approx(rule.weight * rule.low)
    assert rule.term(rule.centre) == 0.0
    # a PAD model's verdict outweighs any single model-free cue
    assert DEFAULT_RULE["pad"].high > max(r.weight * r.high for name, r in DEFAULT_RULE.items() if name != "pad")


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


def test_a_held_photo_video_is_an_attack_without_any_model(face_store: Path, tmp_path: Path) -> None:
    path = _held_photo_video(tmp_path / "held.mp4")
    ctx = AnalysisContext({"liveness": 0.5}, vision=vision_service(face_store))
    media = media_input(path)
    result = assess(ctx, media, ctx.faces(media))
    assert result.pad.detectors == [] and result.pad.p_live is None and result.pad_model_missing
    assert result.decided_by == "default_rule"
    names = {c.name for c in result.cues}
    assert {CueName.PLANARITY, CueName.MICRO_MOTION, CueName.SPECTRAL} <= names
    assert result.terms[CueName.PLANARITY] > 1.0
    assert result.is_attack is True and result.confidence_spoofing is not None
    assert set(result.timings_ms) == {"pad", "image", "motion", "fusion"}
