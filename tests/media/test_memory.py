from __future__ import annotations

import os
import tempfile
from pathlib import Path

import cv2
import pytest

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media import in_memory_file, iter_frames_rgb, load_image_rgb, probe_bytes
from appliance.ops.settings import Limits
from tests.support.media_samples import VALID_FACTS, VIDEO_FRAMES


@pytest.fixture
def watched_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh directory every temporary-file API of this process would write into."""
    watched = tmp_path / "watched"
    watched.mkdir()
    monkeypatch.setenv("TMPDIR", str(watched))
    monkeypatch.setattr(tempfile, "tempdir", str(watched))
    return watched


def test_in_memory_file_is_readable_and_gone_afterwards(watched_tmp: Path) -> None:
    with in_memory_file(b"hello memory", ".txt") as path:
        assert path.parent == Path("/proc/self/fd")
        assert path.read_bytes() == b"hello memory"
        assert path.read_bytes() == b"hello memory"  # each open starts at the beginning
        assert "memfd:" in os.readlink(path)
    assert not path.exists()
    assert list(watched_tmp.iterdir()) == []


@pytest.mark.parametrize("name", ["mp4", "avi", "webm_no_duration", "jpeg", "exif_rotated_jpeg", "shots_zip"])
def test_probe_bytes_matches_probe_of_a_file(name: str, valid_samples: dict[str, Path], watched_tmp: Path) -> None:
    facts = VALID_FACTS[name]
    result = probe_bytes(valid_samples[name].read_bytes(), Limits())
    assert (result.kind, result.mime_type, result.width, result.height, result.frame_count) == (
        facts.kind,
        facts.mime_type,
        facts.width,
        facts.height,
        facts.frame_count,
    )
    assert list(watched_tmp.iterdir()) == []


def test_opencv_and_pillow_decode_from_memory(valid_samples: dict[str, Path], watched_tmp: Path) -> None:
    with in_memory_file(valid_samples["mp4"].read_bytes()) as path:
        capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
        try:
            assert capture.isOpened() and capture.get(cv2.CAP_PROP_FRAME_COUNT) == VIDEO_FRAMES
        finally:
            capture.release()
        assert len(list(iter_frames_rgb(path, MediaKind.VIDEO, max_frames=5))) == 5
    with in_memory_file(valid_samples["exif_rotated_jpeg"].read_bytes(), ".jpg") as path:
        assert load_image_rgb(path).shape == (512, 384, 3)
    assert list(watched_tmp.iterdir()) == []


def test_probe_bytes_enforces_the_limits(
    valid_samples: dict[str, Path], malformed_samples: dict[str, tuple[Path, ErrorCode]]
) -> None:
    content = valid_samples["jpeg"].read_bytes()
    with pytest.raises(AppError) as caught:
        probe_bytes(content, Limits(max_file_bytes=len(content) - 1))
    assert caught.value.code is ErrorCode.MEDIA_TOO_LARGE
    for name, (path, code) in malformed_samples.items():
        with pytest.raises(AppError) as caught:
            probe_bytes(path.read_bytes(), Limits())
        assert caught.value.code is code, name
