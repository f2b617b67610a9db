"""Capture sessions: a random challenge for one recording, and what the capture page saw of the camera.

A session belongs to a folder. It draws 2 or 3 gestures in a random order and lays out the prompts'
schedule from the start of the recording (a lead-in to frame the face, then each prompt with a
pause before the next); the capture page shows each prompt at its time, and QUALITY checks each
gesture inside its prompt's window (the plugin's `challenge` param, `challenge_param` here).

The session is reached by a capability: a random token in the capture page's address, of which only
the sha256 is stored. It is single use (the upload consumes it, compare-and-set) and expires.

The page also reports the camera: its label, its settings and the timing of the frames it showed.
`capture_flags` names what an injected stream looks like: a known virtual camera, or frames too
regular (a synthetic feed) or too irregular for a real camera. Pure functions: no I/O here.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

__all__ = [
    "CAPTURE_GESTURES",
    "PROMPTS",
    "CaptureFlag",
    "CaptureSchedule",
    "CaptureSession",
    "CaptureState",
    "capture_flags",
    "challenge_param",
    "decisive_flags",
    "draw_steps",
    "timing_summary",
]

#: The gestures a session may ask for (the QUALITY plugin's gesture tags), and what the page says.
PROMPTS: dict[str, str] = {
    "video_selfie_left": "Turn your head to your left",
    "video_selfie_right": "Turn your head to your right",
    "video_selfie_down": "Look down",
    "video_selfie_high": "Look up",
    "video_selfie_smile": "Smile",
    "video_selfie_eyes": "Blink",
}
CAPTURE_GESTURES = tuple(PROMPTS)


class CaptureState(StrEnum):
    OPEN = "open"
    USED = "used"
    EXPIRED = "expired"


class CaptureFlag(StrEnum):
    """What the capture page saw that an injected stream looks like."""

    VIRTUAL_CAMERA = "virtual_camera"
    FAKE_DEVICE = "fake_device"
    FRAME_TIMING_TOO_REGULAR = "frame_timing_too_regular"
    FRAME_TIMING_TOO_IRREGULAR = "frame_timing_too_irregular"
    NO_FRAME_TIMING = "no_frame_timing"


#: Camera labels of virtual cameras (software that feeds any video as a webcam).
VIRTUAL_CAMERAS = re.compile(
    r"obs|manycam|v4l2 ?loopback|virtual|dummy video|snap camera|xsplit|droidcam|e2esoft|vcam|splitcam|camtwist",
    re.IGNORECASE,
)
#: Chromium's fake capture device (--use-fake-device-for-media-stream: `fake_device_0`, or the path
#: of the file it plays with --use-file-for-fake-video-capture) and similar test devices.
FAKE_DEVICES = re.compile(r"^fake[_ ]|fake device|fake_device|\.(y4m|mjpe?g)$", re.IGNORECASE)
#: The coefficient of variation of a real camera's frame intervals lies between these (measured:
#: webcams 0.03-0.4 through a browser); a synthetic feed is steadier, a stalling one much less steady.
REGULAR_BELOW = 0.005
IRREGULAR_ABOVE = 1.0
#: Fewer intervals than this say nothing about timing.
MIN_INTERVALS = 20


class _Random(Protocol):
    def sample(self, population: Sequence[str], k: int) -> list[str]: ...

    def randint(self, a: int, b: int) -> int: ...


def draw_steps(rng: _Random, fewest: int = 2, most: int = 3, gestures: Sequence[str] = CAPTURE_GESTURES) -> list[str]:
    """`fewest` to `most` different gestures in a random order (`rng`: `secrets.SystemRandom()`).
    Turning left and right are not both drawn next to each other: one would undo the other."""
    count = rng.randint(fewest, most)
    while True:
        steps = rng.sample(list(gestures), count)
        if not any(
            {a, b} == {"video_selfie_left", "video_selfie_right"} for a, b in zip(steps, steps[1:], strict=False)
        ):
            return steps


@dataclass(frozen=True, slots=True)
class CaptureSchedule:
    """When the capture page shows each prompt, in seconds from the start of the recording."""

    lead_in_s: float = 1.5
    prompt_s: float = 2.0
    pause_s: float = 0.8
    #: After the last prompt: what its window allows (a late reaction, half a pause) and a little more.
    tail_s: float = 0.5

    def prompt_times(self, steps: int) -> list[tuple[float, float]]:
        """(start, end) of each prompt."""
        starts = [self.lead_in_s + i * (self.prompt_s + self.pause_s) for i in range(steps)]
        return [(round(start, 3), round(start + self.prompt_s, 3)) for start in starts]

    def length_s(self, steps: int) -> float:
        """How long the recording is."""
        return round(self.prompt_times(steps)[-1][1] + self.tail_s, 3) if steps else self.lead_in_s

    def to_dict(self) -> dict[str, float]:
        return {"lead_in_s": self.lead_in_s, "prompt_s": self.prompt_s, "pause_s": self.pause_s, "tail_s": self.tail_s}


def challenge_param(steps: Sequence[str], schedule: CaptureSchedule) -> dict[str, Any]:
    """QUALITY's `challenge` param for these steps: each gesture inside its prompt's window, the pause
    before it (to come back to neutral) included, and half of the pause after it (a late reaction)."""
    times = schedule.prompt_times(len(steps))
    return {
        "steps": [{"tag": tag, "start_s": start, "end_s": end} for tag, (start, end) in zip(steps, times, strict=True)],
        "before_s": schedule.pause_s,
        "after_s": round(schedule.pause_s / 2, 3),
    }


def _intervals(report: Mapping[str, Any]) -> list[float]:
    timing = report.get("frame_intervals_ms")
    if not isinstance(timing, list):
        return []
    return [float(v) for v in timing if isinstance(v, int | float) and 0 < float(v) < 10_000]


def capture_flags(report: Mapping[str, Any]) -> list[CaptureFlag]:
    """What in the page's report looks like an injected stream (see the module's docstring)."""
    flags: list[CaptureFlag] = []
    label = str(report.get("camera_label") or "")
    if VIRTUAL_CAMERAS.search(label):
        flags.append(CaptureFlag.VIRTUAL_CAMERA)
    if FAKE_DEVICES.search(label):
        flags.append(CaptureFlag.FAKE_DEVICE)
    intervals = _intervals(report)
    if len(intervals) < MIN_INTERVALS:
        flags.append(CaptureFlag.NO_FRAME_TIMING)
    else:
        mean = statistics.fmean(intervals)
        variation = statistics.pstdev(intervals) / mean if mean > 0 else 0.0
        if variation < REGULAR_BELOW:
            flags.append(CaptureFlag.FRAME_TIMING_TOO_REGULAR)
        elif variation > IRREGULAR_ABOVE:
            flags.append(CaptureFlag.FRAME_TIMING_TOO_IRREGULAR)
    return flags


def decisive_flags(flags: Sequence[CaptureFlag], *, allow_fake_devices: bool) -> list[CaptureFlag]:
    """The flags that lower the verdict: all of them, but a fake device's (and the regular timing of
    its synthetic frames) where the site allows fake devices (tests)."""
    if not allow_fake_devices or CaptureFlag.FAKE_DEVICE not in flags:
        return list(flags)
    excused = {CaptureFlag.FAKE_DEVICE, CaptureFlag.FRAME_TIMING_TOO_REGULAR}
    return [flag for flag in flags if flag not in excused]


def timing_summary(report: Mapping[str, Any]) -> dict[str, float | int]:
    """Count, mean and coefficient of variation of the reported frame intervals (for the record)."""
    intervals = _intervals(report)
    if not intervals:
        return {"intervals": 0}
    mean = statistics.fmean(intervals)
    return {
        "intervals": len(intervals),
        "mean_ms": round(mean, 3),
        "variation": round(statistics.pstdev(intervals) / mean, 5) if mean > 0 else 0.0,
    }


@dataclass(slots=True)
class CaptureSession:
    """A capture session (see the module's docstring). `token_hash`: the sha256 of its token."""

    session_id: str
    token_hash: str
    folder_id: str
    company_id: str | None
    user_id: str
    #: The gesture tags, in the order asked for.
    steps: list[str]
    schedule: dict[str, float]
    #: The analysis types run on the recording (QUALITY always).
    analyses: list[str]
    expires_at: datetime
    time_used: datetime | None = None
    media_id: str | None = None
    #: What the page reported of the camera, the timing summary and the flags raised.
    report: dict[str, Any] = field(default_factory=dict)
    time_created: datetime | None = None

    def state(self, now: datetime) -> CaptureState:
        if self.time_used is not None:
            return CaptureState.USED
        return CaptureState.EXPIRED if now >= self.expires_at else CaptureState.OPEN
