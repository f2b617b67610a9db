from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media import make_shots_preview, make_thumbnail, probe_file
from appliance.media.previews import THUMBNAIL_SIDE, thumbnail_jpeg
from appliance.ops.settings import Limits
from tests.support.media_samples import SHOT_COUNT, VALID_FACTS


@pytest.mark.parametrize("name", sorted(VALID_FACTS))
def test_thumbnail_is_a_small_upright_jpeg(name: str, valid_samples: dict[str, Path], tmp_path: Path) -> None:
    facts = VALID_FACTS[name]
    dest = tmp_path / "derived" / "ab" / "media" / "thumbnail.jpg"
    make_thumbnail(valid_samples[name], facts.kind, dest, max_side=160)
    assert dest.read_bytes()[:3] == b"\xff\xd8\xff"
    thumbnail = cv2.imread(str(dest))
    assert thumbnail is not None
    height, width = thumbnail.shape[:2]
    assert max(width, height) == min(160, max(facts.width, facts.height))
    assert (width > height) == (facts.width > facts.height) and (width < height) == (facts.width < facts.height)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["thumbnail.jpg"]  # no temporary left


def test_thumbnail_replaces_an_older_one(valid_samples: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "thumbnail.jpg"
    dest.write_bytes(b"stale")
    make_thumbnail(valid_samples["mp4"], MediaKind.VIDEO, dest)
    assert cv2.imread(str(dest)).shape == (320, 320, 3)


def test_failed_previews_leave_nothing(malformed_samples: dict[str, tuple[Path, ErrorCode]], tmp_path: Path) -> None:
    with pytest.raises(AppError):
        make_thumbnail(malformed_samples["truncated_mp4"][0], MediaKind.VIDEO, tmp_path / "thumbnail.jpg")
    with pytest.raises(AppError):  # fails while the preview is being written
        make_shots_preview(malformed_samples["zip_truncated_image"][0], tmp_path / "preview.mp4")
    assert list(tmp_path.iterdir()) == []


def test_shots_preview_is_a_decodable_mp4(valid_samples: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "preview.mp4"
    make_shots_preview(valid_samples["shots_zip"], dest, fps=10)
    assert dest.read_bytes()[4:8] == b"ftyp"
    capture = cv2.VideoCapture(str(dest), cv2.CAP_FFMPEG)
    try:
        assert capture.isOpened()
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10)
        frames = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(frame)
    finally:
        capture.release()
    assert len(frames) == SHOT_COUNT
    assert {frame.shape for frame in frames} == {(128, 128, 3)}  # every frame at the first frame's size
    assert np.mean([frame.std() for frame in frames]) > 20  # real pictures, not blank frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["preview.mp4"]


def test_shots_preview_has_even_sides_within_max_side(valid_samples: dict[str, Path], tmp_path: Path) -> None:
    dest = tmp_path / "preview.mp4"
    make_shots_preview(valid_samples["shots_zip"], dest, max_side=101)
    capture = cv2.VideoCapture(str(dest), cv2.CAP_FFMPEG)
    try:
        ok, frame = capture.read()
    finally:
        capture.release()
    assert ok and frame.shape[:2] == (100, 100)


def _video_of_levels(path: Path, levels: list[int], side: int = 64) -> Path:
    """A video of flat grey frames, one per level (0-255)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15, (side, side))
    try:
        for level in levels:
            writer.write(np.full((side, side, 3), level, np.uint8))
    finally:
        writer.release()
    return path


def _thumbnail_from_the_stored_file(video: Path, dest: Path) -> None:
    make_thumbnail(video, MediaKind.VIDEO, dest)


def _thumbnail_from_the_upload_probe(video: Path, dest: Path) -> None:
    poster = probe_file(video, Limits(), poster_side=THUMBNAIL_SIDE).poster
    assert poster is not None
    dest.write_bytes(thumbnail_jpeg(poster))


BOTH_WAYS = pytest.mark.parametrize("make", [_thumbnail_from_the_stored_file, _thumbnail_from_the_upload_probe])


@BOTH_WAYS
def test_video_thumbnail_skips_the_dark_frames_a_camera_starts_with(make, tmp_path: Path) -> None:
    make(_video_of_levels(tmp_path / "fade.avi", [5, 5, 5, 5, *[200] * 8]), tmp_path / "thumbnail.jpg")
    assert cv2.imread(str(tmp_path / "thumbnail.jpg")).mean() == pytest.approx(200, abs=3)


@BOTH_WAYS
def test_video_thumbnail_of_a_dark_video_is_its_brightest_early_frame(make, tmp_path: Path) -> None:
    make(_video_of_levels(tmp_path / "dark.avi", [5, 10, 40, 20, 5, 5]), tmp_path / "thumbnail.jpg")
    assert cv2.imread(str(tmp_path / "thumbnail.jpg")).mean() == pytest.approx(40, abs=3)
