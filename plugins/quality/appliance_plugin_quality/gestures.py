"""Active gestures from FaceMesh landmarks and eyelid contours: head turns, nods, smile, blink and scan.

Pure functions over a `FaceTrack`, so they are testable without the analyzer. Every measure is
taken per sampled frame from the primary face's 468 FaceMesh points (frames whose FaceMesh
`presence` is below `min_presence` are skipped: their points are not a face; so are frames with a
reason, MULTIPLE_FACES or FACE_TOO_SMALL: a gesture counts only where one usable face is seen):

- yaw (degrees): the nose tip's (point 1) offset between the face's side edges (points 234 and
  454), `asin(2 * offset - 1)`. 0 is frontal; positive means the face turned towards the image's
  right. In an unmirrored recording (a phone's or webcam's stored video) the subject's LEFT is
  the image's right, so turning to the subject's left gives a positive yaw. `mirrored=True`
  swaps the two sides (for clients that store the mirrored preview).
- pitch (degrees): the tilt of the nose's ridge, from the nose bridge (point 168) to the point
  under the nose (point 2), out of the image plane, from FaceMesh's depth (z): positive when the
  head tilts down. Both points are rigid (neither moves with the mouth or the brows, unlike the
  lips and the chin). Its neutral value differs from face to face, so checks use its change from
  the track's median.
- eye openness: for each eye, the gap between the lids over the eye's width, from the eyelid
  contours of the iris landmark model (`frame.eyes`, `eye_openness` in the SDK). FaceMesh's own
  lid points follow the face's shape rather than the lid and barely move in a blink, so the
  blink check needs the eye model; without it the check fails with `no_eye_landmarks`.
- mouth width: corner to corner (61-291) over the outer eye-corner distance (33-263); mouth
  opening: inner lips (13-14) over the same; corner lift: how far the mouth corners sit above the
  inner lips' midpoint, over the same.

A gesture must happen inside the media: a neutral frame first, the gesture at a later frame.
Each check returns `GestureResult` with `passed`, the failed check's name and the measured values.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from appliance.sdk import FaceTrack, MediaInput, MediaKind, TrackFrame, eye_openness

__all__ = [
    "GESTURE_TAGS",
    "FaceMeasures",
    "GestureResult",
    "GestureSettings",
    "check_gesture",
    "check_gestures",
    "check_measures",
    "gesture_sampling",
    "measure_points",
    "measure_track",
    "openness",
    "requested_gestures",
]

#: The Oz media tags that ask for a gesture, and the gesture each asks for.
GESTURE_TAGS: dict[str, str] = {
    "video_selfie_left": "left",
    "video_selfie_right": "right",
    "video_selfie_down": "down",
    "video_selfie_high": "high",
    "video_selfie_smile": "smile",
    "video_selfie_eyes": "eyes",
    "video_selfie_scan": "scan",
    "video_selfie_blank": "blank",
}

# FaceMesh points
_NOSE_TIP, _FACE_LEFT_EDGE, _FACE_RIGHT_EDGE = 1, 234, 454
_EYE_OUTER_A, _EYE_OUTER_B = 33, 263
_NOSE_BRIDGE, _UNDER_NOSE = 168, 2
_MOUTH_CORNERS = (61, 291)
_INNER_LIPS = (13, 14)


@dataclass(frozen=True, slots=True)
class GestureSettings:
    """Thresholds of the gesture checks (each a param of the analyzer, same name)."""

    #: left/right: the head turns past this yaw, in degrees, towards the asked side...
    turn_deg: float = 20.0
    #: ... after a frame whose |yaw| is below this (the neutral frame).
    neutral_deg: float = 10.0
    #: down/high: the pitch moves this many degrees from the track's median, after a frame
    #: within half of it of the median (the neutral frame).
    pitch_delta_deg: float = 11.0
    #: smile: mouth width grows to this many times its neutral width...
    smile_width: float = 1.25
    #: ... with the corners lifted by at least this (relative to the eye distance) ...
    smile_lift: float = 0.03
    #: ... and the mouth not wide open (opening / width below this: a yawn or a shout is no smile).
    smile_max_open: float = 0.45
    #: eyes: both eyes close to at most this fraction of how open they are (the median) within
    #: `blink_window_s` before AND within it after: the lids drop and rise again (a blink), they do
    #: not stay low (a downward look)...
    blink_ratio: float = 0.65
    #: ... and to at most this fraction of their open baseline (the 90th percentile over the track).
    blink_closed: float = 0.6
    #: The window on each side, in seconds at `sample_fps`.
    blink_window_s: float = 1.0
    #: eyes: frames with |yaw| above this are left out (the far eye is hidden).
    blink_max_yaw_deg: float = 45.0
    #: left/right/down/high/smile: the gesture holds for at least this many consecutive sampled
    #: frames (at `sample_fps`, 2 frames are about 0.1 s: a one-frame landmark glitch is no gesture).
    hold_frames: int = 2
    #: scan: the yaw sweeps at least this range, in degrees...
    scan_range_deg: float = 30.0
    #: ... or the face's centre moves by at least this many face widths across the frame.
    scan_shift: float = 1.0
    #: FaceMesh presence below this: the frame's points are not used.
    min_presence: float = 0.5
    #: smile and eyes use frames with |yaw| below this (a turned face distorts mouth and eyes).
    frontal_deg: float = 25.0
    #: True when the recording is mirrored (left and right swapped on screen).
    mirrored: bool = False
    #: Gesture tags sample the video at about this rate (frames per second)...
    sample_fps: float = 15.0
    #: ... between these bounds of frames.
    min_frames: int = 16
    max_frames: int = 150

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> GestureSettings:
        """Settings from an analyzer's params: any key named like a field (params come from JSON)."""
        values: dict[str, Any] = {}
        for name, spec in cls.__dataclass_fields__.items():
            if name in params and params[name] is not None:
                kind = (
                    spec.type if isinstance(spec.type, type) else {"float": float, "int": int, "bool": bool}[spec.type]
                )
                values[name] = kind(params[name])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class FaceMeasures:
    """The gesture measures of one sampled frame (see the module's docstring)."""

    #: Position in the track's frames, and the frame's index in the media.
    position: int
    index: int
    yaw: float
    pitch: float
    #: Openness of the eye on the image's left and of the other (`eye_openness`), None without eyelid contours.
    eyes: tuple[float, float] | None
    mouth_width: float
    mouth_open: float
    mouth_lift: float
    #: The face box's centre x and width, in pixels.
    center_x: float
    face_width: float


@dataclass(frozen=True, slots=True)
class GestureResult:
    """The outcome of one gesture check."""

    tag: str
    gesture: str
    #: False for photos (one frame: a gesture cannot happen inside it) and for `blank`.
    applicable: bool
    #: None when not applicable.
    passed: bool | None
    #: The check that failed: no_face, too_few_frames, no_neutral_frame, not_reached,
    #: not_after_neutral, no_recovery; None when passed or not applicable.
    failed_check: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "gesture": self.gesture,
            "applicable": self.applicable,
            "passed": self.passed,
            "failed_check": self.failed_check,
            "values": self.values,
        }


def requested_gestures(tags: Iterable[str]) -> list[str]:
    """The gesture tags among `tags`, in order (a media may carry several)."""
    return [tag for tag in tags if tag in GESTURE_TAGS]


def gesture_sampling(media: MediaInput, settings: GestureSettings | None = None) -> int:
    """`max_frames` for `ctx.faces(media, max_frames=...)` when the media carries a gesture tag.

    The default track samples 10 frames: too few for a blink (100-300 ms), which falls between
    samples of any video longer than about 2 s. Gesture tags therefore sample about
    `sample_fps` frames per second (a blink then spans 1-4 samples), between `min_frames` and
    `max_frames` (a 5 s video: 75 frames; 10 s and more: 150). That is a separate, cached track
    of the same media, so the face pipeline runs once more for gesture media only.
    """
    settings = settings or GestureSettings()
    if media.kind is MediaKind.IMAGE:
        return settings.min_frames
    if media.duration_seconds:
        wanted = math.ceil(media.duration_seconds * settings.sample_fps)
    else:  # a shot set, or no duration probed: every frame up to the bound
        wanted = media.frame_count or settings.max_frames
    if media.frame_count:
        wanted = min(wanted, media.frame_count)
    return int(min(settings.max_frames, max(settings.min_frames, wanted)))


# Measures ---------------------------------------------------------------------------------------


def _dist(points: np.ndarray, a: int, b: int) -> float:
    return float(np.linalg.norm(points[a, :2] - points[b, :2]))


def openness(frame: TrackFrame) -> tuple[float, float] | None:
    """How open each eye of the frame's primary face is, None without eyelid contours."""
    if frame.eyes is None:
        return None
    left, right = (eye_openness(lids) for lids in frame.eyes.lids)
    return left, right


def measure_points(points: np.ndarray) -> tuple[float, float, float, float, float]:
    """(yaw, pitch, mouth_width, mouth_open, mouth_lift) of one face's FaceMesh points."""
    p = np.asarray(points, dtype=np.float64)
    left, right = p[_FACE_LEFT_EDGE, 0], p[_FACE_RIGHT_EDGE, 0]
    span = right - left
    offset = (p[_NOSE_TIP, 0] - left) / span if abs(span) > 1e-6 else 0.5
    yaw = math.degrees(math.asin(float(np.clip(2.0 * offset - 1.0, -1.0, 1.0))))
    ridge = p[_UNDER_NOSE] - p[_NOSE_BRIDGE]
    pitch = math.degrees(math.atan2(float(ridge[2]), float(math.hypot(ridge[0], ridge[1]))))
    eye_distance = max(_dist(p, _EYE_OUTER_A, _EYE_OUTER_B), 1e-6)
    mouth_width = _dist(p, *_MOUTH_CORNERS) / eye_distance
    mouth_open = _dist(p, *_INNER_LIPS) / eye_distance
    lips_mid = (p[_INNER_LIPS[0], 1] + p[_INNER_LIPS[1], 1]) / 2.0
    corners = (p[_MOUTH_CORNERS[0], 1] + p[_MOUTH_CORNERS[1], 1]) / 2.0
    mouth_lift = float((lips_mid - corners) / eye_distance)
    return yaw, pitch, mouth_width, mouth_open, mouth_lift


def measure_track(track: FaceTrack, settings: GestureSettings | None = None) -> list[FaceMeasures]:
    """The measures of every sampled frame with one usable face whose FaceMesh presence is high enough."""
    settings = settings or GestureSettings()
    measures: list[FaceMeasures] = []
    for position, frame in enumerate(track.frames):
        face, landmarks = frame.face, frame.landmarks
        if face is None or landmarks is None or landmarks.presence < settings.min_presence:
            continue
        if frame.reasons:  # several faces, or a face too small: whose gesture it is, is unclear
            continue
        yaw, pitch, width, opening, lift = measure_points(landmarks.points)
        if settings.mirrored:
            yaw = -yaw
        x0, _, x1, _ = face.box
        eyes = openness(frame)
        measures.append(
            FaceMeasures(position, frame.index, yaw, pitch, eyes, width, opening, lift, (x0 + x1) / 2, x1 - x0)
        )
    return measures


# Checks -----------------------------------------------------------------------------------------


def _r(value: float) -> float:
    return round(float(value), 4)


def _held(is_gesture: Sequence[bool], hold: int) -> list[bool]:
    """True where a run of at least `hold` consecutive gesture frames starts."""
    held = [False] * len(is_gesture)
    for j in range(len(is_gesture) - max(hold, 1) + 1):
        held[j] = all(is_gesture[j : j + max(hold, 1)])
    return held


def _rise(is_neutral: Sequence[bool], is_gesture: Sequence[bool]) -> tuple[int | None, int | None]:
    """(neutral frame, gesture frame) positions with the neutral one first, or Nones."""
    first_neutral = next((i for i, ok in enumerate(is_neutral) if ok), None)
    if first_neutral is None:
        return None, None
    later = [j for j in range(first_neutral + 1, len(is_gesture)) if is_gesture[j]]
    return first_neutral, (later[0] if later else None)


#: Frame indices (inclusive) a check looks for its gesture between; None: the whole media.
Within = tuple[int, int] | None


def _inside(indices: Sequence[int], within: Within) -> list[int]:
    """Positions of the frames inside `within`."""
    return [j for j, i in enumerate(indices) if within is None or within[0] <= i <= within[1]]


def _after_neutral(
    is_gesture: Sequence[bool],
    is_neutral: Sequence[bool],
    indices: Sequence[int],
    values: dict[str, Any],
    hold: int,
    within: Within = None,
) -> tuple[str | None, dict[str, Any]]:
    """The verdict shared by every held gesture: reached, for `hold` frames, after a neutral frame,
    both inside `within`."""
    keep = _inside(indices, within)
    held = _held([is_gesture[j] for j in keep], hold)
    neutral, gesture = _rise([is_neutral[j] for j in keep], held)
    values["neutral_frame"] = None if neutral is None else indices[keep[neutral]]
    values["gesture_frame"] = None if gesture is None else indices[keep[gesture]]
    if not any(held):
        return "not_reached", values
    if neutral is None:
        return "no_neutral_frame", values
    if gesture is None:
        return "not_after_neutral", values
    return None, values


def _best(scores: Sequence[float], indices: Sequence[int], within: Within) -> int:
    """Position of the highest score inside `within` (of all, when none is inside)."""
    keep = _inside(indices, within) or list(range(len(scores)))
    return max(keep, key=lambda j: scores[j])


def _turn(
    measures: list[FaceMeasures], sign: float, s: GestureSettings, within: Within
) -> tuple[str | None, dict[str, Any]]:
    yaws = [m.yaw * sign for m in measures]
    indices = [m.index for m in measures]
    best = _best(yaws, indices, within)
    values: dict[str, Any] = {
        "max_yaw_deg": _r(yaws[best]),
        "max_yaw_frame": indices[best],
        "threshold_deg": s.turn_deg,
        "neutral_deg": s.neutral_deg,
    }
    return _after_neutral(
        [y >= s.turn_deg for y in yaws], [abs(y) <= s.neutral_deg for y in yaws], indices, values, s.hold_frames, within
    )


def _pitch(
    measures: list[FaceMeasures], sign: float, s: GestureSettings, within: Within
) -> tuple[str | None, dict[str, Any]]:
    frontal = [m for m in measures if abs(m.yaw) <= s.frontal_deg] or measures
    neutral_value = float(np.median([m.pitch for m in frontal]))
    deltas = [(m.pitch - neutral_value) * sign for m in frontal]
    indices = [m.index for m in frontal]
    best = _best(deltas, indices, within)
    values: dict[str, Any] = {
        "median_pitch_deg": _r(neutral_value),
        "max_change_deg": _r(deltas[best]),
        "max_change_frame": indices[best],
        "threshold_deg": s.pitch_delta_deg,
    }
    return _after_neutral(
        [d >= s.pitch_delta_deg for d in deltas],
        [abs(d) <= s.pitch_delta_deg / 2 for d in deltas],
        indices,
        values,
        s.hold_frames,
        within,
    )


def _smile(measures: list[FaceMeasures], s: GestureSettings, within: Within) -> tuple[str | None, dict[str, Any]]:
    frontal = [m for m in measures if abs(m.yaw) <= s.frontal_deg]
    if len(frontal) < 2:
        return "too_few_frames", {"frontal_frames": len(frontal)}
    width0 = float(np.percentile([m.mouth_width for m in frontal], 25))
    lift0 = float(np.percentile([m.mouth_lift for m in frontal], 25))
    widths = [m.mouth_width / width0 for m in frontal]
    lifts = [m.mouth_lift - lift0 for m in frontal]
    is_smile = [
        w >= s.smile_width and lift >= s.smile_lift and m.mouth_open / max(m.mouth_width, 1e-6) < s.smile_max_open
        for w, lift, m in zip(widths, lifts, frontal, strict=True)
    ]
    indices = [m.index for m in frontal]
    best = _best([w if ok else 0.0 for w, ok in zip(widths, is_smile, strict=True)], indices, within)
    widest = _best(widths, indices, within)
    values: dict[str, Any] = {
        "neutral_mouth_width": _r(width0),
        "max_width_ratio": _r(widths[widest]),
        "max_width_frame": indices[widest],
        "lift_at_max_width": _r(lifts[widest]),
        "width_threshold": s.smile_width,
        "lift_threshold": s.smile_lift,
    }
    if is_smile[best]:
        values["smile_width_ratio"] = _r(widths[best])
    return _after_neutral(
        is_smile, [w <= 1.0 + (s.smile_width - 1.0) / 3 for w in widths], indices, values, s.hold_frames, within
    )


def _eyes(measures: list[FaceMeasures], s: GestureSettings, within: Within) -> tuple[str | None, dict[str, Any]]:
    """A blink: both eyes close and open again.

    Each eye's openness is taken relative to its open baseline (90th percentile over the frames);
    a frame's value is the MORE open eye's, so a wink is no blink. A frame is a blink when its value
    is at most `blink_closed`, and at most `blink_ratio` times the median value within
    `blink_window_s` before it and the median within it after it. A downward look lowers the lids
    for as long as it lasts, so the medians around it are low too and it is no blink; a blink at
    the very start or end of the media has no window on one side and does not count.
    """
    if not any(m.eyes is not None for m in measures):
        return "no_eye_landmarks", {}
    usable = [m for m in measures if m.eyes is not None and abs(m.yaw) <= s.blink_max_yaw_deg]
    if len(usable) < 3:
        return "too_few_frames", {"frames_with_eyes": len(usable)}
    per_eye = np.array([m.eyes for m in usable], dtype=np.float64)
    baseline = np.maximum(np.percentile(per_eye, 90, axis=0), 1e-6)
    value = (per_eye / baseline).max(axis=1)
    indices = [m.index for m in usable]
    window = max(1, round(s.blink_window_s * s.sample_fps))
    lowest = _best(list(-value), indices, within)
    values: dict[str, Any] = {
        "open_baseline": [_r(b) for b in baseline],
        "min_open_ratio": _r(value[lowest]),
        "min_open_frame": indices[lowest],
        "closed_threshold": s.blink_closed,
        "drop_ratio": s.blink_ratio,
    }
    closed = [j for j in _inside(indices, within) if value[j] <= s.blink_closed]
    if not closed:
        return "not_reached", values
    dropped = []
    for j in closed:
        before, after = value[max(0, j - window) : j], value[j + 1 : j + 1 + window]
        if not len(before) or value[j] > s.blink_ratio * float(np.median(before)):
            continue
        dropped.append(j)
        if len(after) and value[j] <= s.blink_ratio * float(np.median(after)):
            values.update(closed_frame=indices[j], drop=_r(value[j] / min(np.median(before), np.median(after))))
            return None, values
    return ("no_recovery" if dropped else "no_neutral_frame"), values


def _scan(measures: list[FaceMeasures], s: GestureSettings) -> tuple[str | None, dict[str, Any]]:
    yaws = [m.yaw for m in measures]
    centres = [m.center_x for m in measures]
    width = float(np.median([m.face_width for m in measures]))
    yaw_range = max(yaws) - min(yaws)
    shift = (max(centres) - min(centres)) / width if width > 0 else 0.0
    values: dict[str, Any] = {
        "yaw_min_deg": _r(min(yaws)),
        "yaw_max_deg": _r(max(yaws)),
        "yaw_range_deg": _r(yaw_range),
        "centre_shift_face_widths": _r(shift),
        "range_threshold_deg": s.scan_range_deg,
        "shift_threshold": s.scan_shift,
        "yaw_min_frame": measures[int(np.argmin(yaws))].index,
        "yaw_max_frame": measures[int(np.argmax(yaws))].index,
    }
    if yaw_range < s.scan_range_deg and shift < s.scan_shift:
        return "not_reached", values
    return None, values


def check_gesture(tag: str, track: FaceTrack, settings: GestureSettings | None = None) -> GestureResult:
    """Check the gesture that `tag` (a key of GESTURE_TAGS) asks for on a video's or shot set's track."""
    settings = settings or GestureSettings()
    return check_measures(tag, measure_track(track, settings), len(track.frames), settings)


def check_measures(
    tag: str,
    measures: list[FaceMeasures],
    frames: int,
    settings: GestureSettings | None = None,
    within: Within = None,
) -> GestureResult:
    """Check the gesture that `tag` asks for on the measures of a track of `frames` frames, looking for
    it (and the neutral frame before it) only between the frame indices `within` (a challenge's step);
    what is neutral is always judged on the whole track."""
    settings = settings or GestureSettings()
    gesture = GESTURE_TAGS[tag]
    if gesture == "blank":
        return GestureResult(tag, gesture, applicable=False, passed=None, values={"note": "no gesture requested"})
    seen = [m for m in measures if within is None or within[0] <= m.index <= within[1]]
    if not seen:
        reason = "no_face"
        return GestureResult(tag, gesture, True, False, reason, {"frames": frames, "frames_with_face": 0})
    if len(seen) < 2:
        return GestureResult(tag, gesture, True, False, "too_few_frames", {"frames_with_face": len(seen)})
    sign = -1.0 if gesture == "right" else 1.0  # subject's left = image's right = positive yaw
    if gesture in ("left", "right"):
        failed, values = _turn(measures, sign, settings, within)
    elif gesture in ("down", "high"):
        failed, values = _pitch(measures, 1.0 if gesture == "down" else -1.0, settings, within)
    elif gesture == "smile":
        failed, values = _smile(measures, settings, within)
    elif gesture == "eyes":
        failed, values = _eyes(measures, settings, within)
    else:
        failed, values = _scan(seen, settings)
    values["frames_measured"] = len(seen)
    return GestureResult(tag, gesture, True, failed is None, failed, values)


def check_gestures(
    tags: Iterable[str], track: FaceTrack, kind: MediaKind, settings: GestureSettings | None = None
) -> dict[str, GestureResult]:
    """Every gesture the media's `tags` ask for, by tag. A photo has one frame, so no gesture can
    happen inside it: its gesture tags are reported as not applicable (passed None)."""
    results: dict[str, GestureResult] = {}
    for tag in requested_gestures(tags):
        if kind is MediaKind.IMAGE:
            results[tag] = GestureResult(
                tag, GESTURE_TAGS[tag], applicable=False, passed=None, values={"note": "a photo has no gesture"}
            )
        else:
            results[tag] = check_gesture(tag, track, settings)
    return results
