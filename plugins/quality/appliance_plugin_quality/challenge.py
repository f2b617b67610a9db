"""A challenge: gestures asked for in a random order, each within its prompt's part of the video.

A capture session (docs/capture.md) draws 2 or 3 gestures in a random order and a schedule of
prompts; the capture page shows each prompt at its time from the start of the recording, and the
appliance runs QUALITY with the session's challenge as its `challenge` param:

    {"steps": [{"tag": "video_selfie_left", "start_s": 1.5, "end_s": 3.5}, ...],
     "before_s": 0.8, "after_s": 0.5}

Each step's gesture must happen inside its window: from `before_s` ahead of its prompt (the pause
in which the person comes back to a neutral pose: the check wants a neutral frame first) to
`after_s` past its prompt's end (a person reacts late); the first step's window starts at 0. The
windows follow each other, so the order is checked with the gestures: a video recorded for another
session (another order) fails the first step whose gesture is not where this session asked for it.
The times are the appliance's own schedule, not what the client says it did.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from appliance.sdk import FaceTrack, MediaInput

from .gestures import GESTURE_TAGS, GestureResult, GestureSettings, check_measures, measure_track

__all__ = ["CHALLENGE_GESTURES", "Challenge", "ChallengeResult", "ChallengeStep", "StepResult", "check_challenge"]

#: The gesture tags a challenge may ask for (a scan or a blank prompt is no challenge).
CHALLENGE_GESTURES = (
    "video_selfie_left",
    "video_selfie_right",
    "video_selfie_down",
    "video_selfie_high",
    "video_selfie_smile",
    "video_selfie_eyes",
)
#: Frames per second assumed where the media's probe gave no frame count or duration.
_FALLBACK_FPS = 30.0


@dataclass(frozen=True, slots=True)
class ChallengeStep:
    """One prompt: the gesture asked for, shown from `start_s` to `end_s` of the recording."""

    tag: str
    start_s: float
    end_s: float


@dataclass(frozen=True, slots=True)
class Challenge:
    steps: tuple[ChallengeStep, ...]
    before_s: float = 0.8
    after_s: float = 0.5

    @classmethod
    def from_param(cls, value: Mapping[str, Any]) -> Challenge:
        """The `challenge` param, checked: ValueError naming what is wrong."""
        try:
            steps = tuple(ChallengeStep(str(s["tag"]), float(s["start_s"]), float(s["end_s"])) for s in value["steps"])
            challenge = cls(steps, float(value.get("before_s", 0.8)), float(value.get("after_s", 0.5)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"challenge: expected steps of tag, start_s, end_s ({exc})") from None
        if not steps:
            raise ValueError("challenge: no steps")
        for step in steps:
            if step.tag not in CHALLENGE_GESTURES:
                raise ValueError(f"challenge: {step.tag!r} is not one of {', '.join(CHALLENGE_GESTURES)}")
            if not 0 <= step.start_s < step.end_s:
                raise ValueError(f"challenge: step {step.tag} ends before it starts")
        if any(b.start_s < a.end_s for a, b in zip(steps, steps[1:], strict=False)):
            raise ValueError("challenge: the steps overlap")
        return challenge

    def window(self, position: int) -> tuple[float, float]:
        """(from, to) in seconds of the recording: where the step's gesture must happen."""
        step = self.steps[position]
        return (0.0 if position == 0 else max(0.0, step.start_s - self.before_s), step.end_s + self.after_s)

    @property
    def needs_eyes(self) -> bool:
        return any(GESTURE_TAGS[s.tag] == "eyes" for s in self.steps)


@dataclass(frozen=True, slots=True)
class StepResult:
    step: int
    window: tuple[float, float]
    gesture: GestureResult

    def to_dict(self) -> dict[str, Any]:
        return {"step": self.step, "window_s": [round(t, 2) for t in self.window], **self.gesture.to_dict()}


@dataclass(frozen=True, slots=True)
class ChallengeResult:
    steps: tuple[StepResult, ...]

    @property
    def passed(self) -> bool:
        return all(s.gesture.passed for s in self.steps)

    @property
    def failed_step(self) -> StepResult | None:
        """The first step whose gesture did not happen in its window."""
        return next((s for s in self.steps if not s.gesture.passed), None)

    def to_dict(self) -> dict[str, Any]:
        failed = self.failed_step
        return {
            "passed": self.passed,
            "failed_step": None if failed is None else failed.step,
            "failed_gesture": None if failed is None else failed.gesture.tag,
            "steps": [s.to_dict() for s in self.steps],
        }


def _seconds_per_frame(media: MediaInput) -> float:
    if media.frame_count and media.duration_seconds:
        return media.duration_seconds / media.frame_count
    return 1.0 / _FALLBACK_FPS


def check_challenge(
    challenge: Challenge, track: FaceTrack, media: MediaInput, settings: GestureSettings | None = None
) -> ChallengeResult:
    """Each step's gesture looked for on the frames of the track inside the step's window (what is
    neutral for the person is judged on the whole track)."""
    settings = settings or GestureSettings()
    measures = measure_track(track, settings)
    per_frame = _seconds_per_frame(media)
    results = []
    for position, step in enumerate(challenge.steps):
        start, end = challenge.window(position)
        within = (math.ceil(start / per_frame), math.floor(end / per_frame))
        frames = sum(1 for f in track.frames if within[0] <= f.index <= within[1])
        gesture = check_measures(step.tag, measures, frames, settings, within)
        results.append(StepResult(position, (start, end), gesture))
    return ChallengeResult(tuple(results))
