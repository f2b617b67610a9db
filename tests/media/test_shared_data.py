"""The real videos and face photos of the shared test data, when it is present.

The data lives beside the repository (`../shared/data`) or where APPLIANCE_TEST_DATA points.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import pytest

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media import (
    LocalMediaStorage,
    in_memory_file,
    iter_frames_rgb,
    load_image_rgb,
    make_thumbnail,
    probe_bytes,
)
from appliance.ops.settings import Limits
from tests.support.shared_data import SHARED_DATA, SKIP_REASON

DATA = SHARED_DATA

pytestmark = [pytest.mark.shared_data, pytest.mark.skipif(not DATA.is_dir(), reason=SKIP_REASON)]


def _videos() -> list[Path]:
    return sorted((DATA / "videos").glob("*")) if DATA.is_dir() else []


def _faces() -> list[Path]:
    """The first JPEG of each identity folder: a few photos of varied sources and sizes."""
    if not (DATA / "faces").is_dir():
        return []
    return [photos[0] for folder in sorted((DATA / "faces").iterdir()) if (photos := sorted(folder.glob("*.jpg")))]


def _manifest_sha256() -> dict[str, str]:
    manifest = DATA / "manifest.csv"
    if not manifest.is_file():
        return {}
    with manifest.open(newline="") as fh:
        return {row["file"]: row["sha256"] for row in csv.DictReader(fh)}


@pytest.mark.parametrize("path", _videos(), ids=lambda p: p.name)
def test_real_video_ingests(path: Path, storage: LocalMediaStorage, tmp_path: Path) -> None:
    with path.open("rb") as fh:
        stored = storage.ingest(fh, path.name)
    probe = stored.probe
    assert probe.kind is MediaKind.VIDEO and probe.mime_type == "video/mp4"
    assert probe.frame_count > 1 and probe.fps and probe.duration_seconds
    assert probe.duration_seconds == pytest.approx(probe.frame_count / probe.fps)
    expected = _manifest_sha256().get(path.relative_to(DATA).as_posix())
    assert expected is None or stored.sha256 == expected
    thumbnail = tmp_path / "thumbnail.jpg"
    make_thumbnail(stored.path, MediaKind.VIDEO, thumbnail)
    assert max(cv2.imread(str(thumbnail)).shape[:2]) == min(320, max(probe.width, probe.height))


def test_real_video_decodes_from_memory_and_truncated_fails() -> None:
    videos = _videos()
    if not videos:
        pytest.skip("no videos in the shared test data")
    smallest = min(videos, key=lambda path: path.stat().st_size)
    content = smallest.read_bytes()
    probe = probe_bytes(content, Limits())
    with in_memory_file(content) as path:
        frames = list(iter_frames_rgb(path, MediaKind.VIDEO, max_frames=6))
    assert len(frames) == 6
    assert {frame.shape for _, frame in frames} == {(probe.height, probe.width, 3)}
    with pytest.raises(AppError) as caught:
        probe_bytes(content[: len(content) * 6 // 10], Limits())
    assert caught.value.code is ErrorCode.MEDIA_CORRUPT


@pytest.mark.parametrize("path", _faces(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_real_face_photo_ingests(path: Path, storage: LocalMediaStorage) -> None:
    with path.open("rb") as fh:
        stored = storage.ingest(fh, path.name)
    # not always JPEG: one ".jpg" of the set is really a WebP, which sniffing tells from the content
    assert stored.probe.kind is MediaKind.IMAGE and stored.probe.mime_type in ("image/jpeg", "image/webp")
    expected = _manifest_sha256().get(path.relative_to(DATA).as_posix())
    assert expected is None or stored.sha256 == expected
    assert load_image_rgb(stored.path).shape == (stored.probe.height, stored.probe.width, 3)
