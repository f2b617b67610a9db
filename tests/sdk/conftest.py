"""Real media files for the SDK tests, made on the fly: a face photo, flat images, a video, a shot set."""

from __future__ import annotations

import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

VIDEO_FRAMES = 20
SHOTS = 4


def flat_image(path: Path, value: int, size: tuple[int, int] = (64, 48)) -> Path:
    Image.fromarray(np.full((size[1], size[0], 3), value, dtype=np.uint8)).save(path)
    return path


@pytest.fixture
def astronaut(tmp_path: Path) -> Path:
    path = tmp_path / "astronaut.jpg"
    Image.fromarray(data.astronaut()).save(path, quality=92)
    return path


@pytest.fixture
def black(tmp_path: Path) -> Path:
    return flat_image(tmp_path / "black.png", 0)


@pytest.fixture
def ramp_video(tmp_path: Path) -> Path:
    """An MP4 of VIDEO_FRAMES grey frames, frame i at level 10 * i: a frame's level tells its index."""
    path = tmp_path / "ramp.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), 10, (64, 48))
    for i in range(VIDEO_FRAMES):
        writer.write(np.full((48, 64, 3), 10 * i, dtype=np.uint8))
    writer.release()
    return path


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """A ZIP of SHOTS PNG images, shot i at level 50 * i + 20."""
    path = tmp_path / "shots.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for i in range(SHOTS):
            archive.write(flat_image(tmp_path / f"shot_{i}.png", 50 * i + 20), f"shot_{i}.png")
    return path
