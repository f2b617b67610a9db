from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import appliance.sdk.context as context_module
from appliance.domain.enums import MediaKind
from appliance.sdk import AnalysisContext
from appliance.sdk.testing import media_input
from tests.sdk.conftest import SHOTS, VIDEO_FRAMES


@pytest.fixture
def decode_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, int | None]]:
    """Each call the context makes to the decoder."""
    calls: list[tuple[Path, int | None]] = []
    real = context_module.iter_frames_rgb

    def counting(path: Path, kind: MediaKind, max_frames: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        calls.append((path, max_frames))
        return real(path, kind, max_frames)

    monkeypatch.setattr(context_module, "iter_frames_rgb", counting)
    return calls


def test_an_image_is_one_rgb_frame(astronaut: Path) -> None:
    ctx = AnalysisContext({"liveness": 0.5})
    media = media_input(astronaut)

    frames = list(ctx.frames(media))
    assert [index for index, _ in frames] == [0]
    rgb = frames[0][1]
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    assert rgb[..., 0].mean() > rgb[..., 2].mean()  # the astronaut's photo is warm: more red than blue
    assert ctx.image(media) is rgb
    assert ctx.thresholds == {"liveness": 0.5}


def test_a_video_gives_evenly_sampled_frames(ramp_video: Path) -> None:
    ctx = AnalysisContext()
    media = media_input(ramp_video)

    sampled = list(ctx.frames(media, max_frames=4))
    assert [index for index, _ in sampled] == [2, 7, 12, 17]
    levels = [float(rgb.mean()) for _, rgb in sampled]
    assert levels == sorted(levels) and abs(levels[1] - 70) < 10  # frame 7 is at level 70
    assert sum(1 for _ in ctx.frames(media)) == VIDEO_FRAMES
    assert ctx.image(media).mean() < 10  # the first frame is the darkest


def test_a_shot_set_gives_its_images(shots: Path) -> None:
    ctx = AnalysisContext()
    media = media_input(shots)

    levels = [round(float(rgb.mean())) for _, rgb in ctx.frames(media)]
    assert levels == [50 * i + 20 for i in range(SHOTS)]
    assert [index for index, _ in ctx.frames(media, max_frames=2)] == [1, 3]
    assert round(float(ctx.image(media).mean())) == 20


def test_sampled_frames_are_decoded_once_per_context(
    ramp_video: Path, astronaut: Path, decode_calls: list[tuple[Path, int | None]]
) -> None:
    ctx = AnalysisContext()
    video, photo = media_input(ramp_video), media_input(astronaut)

    first = [rgb for _, rgb in ctx.frames(video, max_frames=3)]
    again = [rgb for _, rgb in ctx.frames(video, max_frames=3)]
    assert all(a is b for a, b in zip(first, again, strict=True))
    list(ctx.frames(video, max_frames=5))
    ctx.image(photo)
    list(ctx.frames(photo, max_frames=7))
    assert decode_calls == [(ramp_video, 3), (ramp_video, 5), (astronaut, None)]

    AnalysisContext().frames(video, max_frames=3)  # a new context decodes again
    assert len(decode_calls) == 4


def test_every_frame_of_a_video_is_streamed_not_kept(
    ramp_video: Path, decode_calls: list[tuple[Path, int | None]]
) -> None:
    ctx = AnalysisContext()
    video = media_input(ramp_video)

    assert sum(1 for _ in ctx.frames(video)) == sum(1 for _ in ctx.frames(video)) == VIDEO_FRAMES
    assert decode_calls == [(ramp_video, None), (ramp_video, None)]


def test_frames_are_read_only(astronaut: Path) -> None:
    rgb = AnalysisContext().image(media_input(astronaut))

    with pytest.raises(ValueError, match="read-only"):
        rgb[0, 0] = 0
    rgb.copy()[0, 0] = 0  # a copy is the caller's own
