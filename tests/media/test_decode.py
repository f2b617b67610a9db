from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from appliance.domain.enums import MediaKind
from appliance.media import iter_frames_rgb, load_image_rgb, probe_file, read_frame_rgb
from appliance.ops.settings import Limits
from tests.support.media_samples import SHOT_COUNT, VALID_FACTS, VIDEO_FRAMES, WEBM_SIDE, astronaut_rgb

IMAGES = ["jpeg", "png", "webp", "rgba_png", "grey_png", "palette_png"]
VIDEOS = ["mp4", "mov", "avi", "webm", "webm_no_duration"]


@pytest.mark.parametrize("name", IMAGES)
def test_images_decode_to_rgb(name: str, valid_samples: dict[str, Path]) -> None:
    rgb = load_image_rgb(valid_samples[name])
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8 and rgb.flags.writeable


def test_lossless_png_decodes_exactly(valid_samples: dict[str, Path]) -> None:
    assert np.array_equal(load_image_rgb(valid_samples["png"]), astronaut_rgb())


def test_exif_orientation_is_applied(valid_samples: dict[str, Path]) -> None:
    path = valid_samples["exif_rotated_jpeg"]
    with Image.open(path) as img:
        stored = np.asarray(img.convert("RGB"))
    upright = load_image_rgb(path)
    assert stored.shape == (384, 512, 3)
    assert upright.shape == (512, 384, 3)
    assert np.array_equal(upright, np.rot90(stored, k=-1))  # Orientation 6: turn 90 degrees clockwise


def test_transparency_is_flattened_onto_white(valid_samples: dict[str, Path]) -> None:
    rgb = load_image_rgb(valid_samples["rgba_png"])
    assert (rgb[0] >= 254).all()  # alpha runs from transparent at the top to opaque at the bottom
    assert np.abs(rgb[-1].astype(int) - astronaut_rgb()[-1]).max() <= 2


@pytest.mark.parametrize("name", VIDEOS)
def test_every_video_frame_is_decoded_in_order(name: str, valid_samples: dict[str, Path]) -> None:
    side = VALID_FACTS[name].width
    frames = list(iter_frames_rgb(valid_samples[name], MediaKind.VIDEO))
    assert [index for index, _ in frames] == list(range(VIDEO_FRAMES))
    assert all(frame.shape == (side, side, 3) and frame.dtype == np.uint8 for _, frame in frames)


@pytest.mark.parametrize("name", VIDEOS)
@pytest.mark.parametrize("max_frames", [1, 4, 10, VIDEO_FRAMES, 100])
def test_video_frames_are_sampled_evenly(name: str, max_frames: int, valid_samples: dict[str, Path]) -> None:
    indices = [index for index, _ in iter_frames_rgb(valid_samples[name], MediaKind.VIDEO, max_frames=max_frames)]
    assert len(indices) == min(max_frames, VIDEO_FRAMES)
    assert indices == sorted(set(indices))
    if max_frames < VIDEO_FRAMES:
        gaps = np.diff([0, *indices, VIDEO_FRAMES])
        assert gaps.max() - gaps[1:-1].min(initial=gaps.max()) <= VIDEO_FRAMES / max_frames + 1


def test_sampled_frames_match_the_full_decode(valid_samples: dict[str, Path]) -> None:
    path = valid_samples["avi"]
    everything = dict(iter_frames_rgb(path, MediaKind.VIDEO))
    for index, frame in iter_frames_rgb(path, MediaKind.VIDEO, max_frames=5):
        assert np.array_equal(frame, everything[index])


def test_shot_set_frames_come_in_natural_order(valid_samples: dict[str, Path]) -> None:
    frames = list(iter_frames_rgb(valid_samples["shots_zip"], MediaKind.SHOTS_SET))
    assert [index for index, _ in frames] == list(range(SHOT_COUNT))
    sides = [frame.shape[0] for _, frame in frames]
    assert sides == [120 + 8 * n for n in range(1, SHOT_COUNT + 1)]  # frame_1, frame_2, ..., frame_12
    sampled = [index for index, _ in iter_frames_rgb(valid_samples["shots_zip"], MediaKind.SHOTS_SET, max_frames=3)]
    assert sampled == [2, 6, 10]


def test_an_image_is_one_frame(valid_samples: dict[str, Path]) -> None:
    frames = list(iter_frames_rgb(valid_samples["exif_rotated_jpeg"], MediaKind.IMAGE, max_frames=8))
    assert len(frames) == 1 and frames[0][0] == 0 and frames[0][1].shape == (512, 384, 3)


def test_max_frames_must_be_positive(valid_samples: dict[str, Path]) -> None:
    with pytest.raises(ValueError):
        list(iter_frames_rgb(valid_samples["mp4"], MediaKind.VIDEO, max_frames=0))


def test_read_frame_at_a_position(valid_samples: dict[str, Path]) -> None:
    video = dict(iter_frames_rgb(valid_samples["avi"], MediaKind.VIDEO))
    assert np.array_equal(read_frame_rgb(valid_samples["avi"], MediaKind.VIDEO, 0.0), video[0])
    assert np.array_equal(read_frame_rgb(valid_samples["avi"], MediaKind.VIDEO, 1.0), video[VIDEO_FRAMES - 1])
    assert read_frame_rgb(valid_samples["shots_zip"], MediaKind.SHOTS_SET, 1.0).shape[0] == 120 + 8 * SHOT_COUNT
    assert read_frame_rgb(valid_samples["webm_no_duration"], MediaKind.VIDEO, 0.5).shape == (WEBM_SIDE, WEBM_SIDE, 3)
    with pytest.raises(ValueError):
        read_frame_rgb(valid_samples["avi"], MediaKind.VIDEO, 1.5)


def _mp4_shown_turned_clockwise(path: Path) -> Path:
    """A 64x32 MP4 whose frames have their left quarter white, with a display matrix (the tkhd
    box's, as a phone writes it) saying to turn them 90 degrees clockwise to show them."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 32))
    for _ in range(12):
        frame = np.zeros((32, 64, 3), np.uint8)
        frame[:, :16] = 255
        writer.write(frame)
    writer.release()
    data = bytearray(path.read_bytes())
    tkhd = data.find(b"tkhd")
    version = data[tkhd + 4]
    # after the version and flags: times and ids (v0: 4+4+4+4+4, v1: 8+8+4+4+8), 8 reserved, layer,
    # group, volume, reserved (2 each), then the 3x3 matrix (16.16 fixed point, w in 2.30)
    matrix = tkhd + 8 + (20 if version == 0 else 32) + 8 + 8
    assert struct.unpack(">9i", data[matrix : matrix + 36]) == (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    path.write_bytes(bytes(data))
    return path


def test_a_video_is_decoded_upright_as_its_display_matrix_says(tmp_path: Path) -> None:
    video = _mp4_shown_turned_clockwise(tmp_path / "turned.mp4")
    probed = probe_file(video, Limits(), poster_side=16)
    frames = list(iter_frames_rgb(video, MediaKind.VIDEO, max_frames=4))

    assert (probed.width, probed.height) == (32, 64)  # the probe and the decoder agree
    assert probed.poster is not None and probed.poster.size == (8, 16)  # shrunk by 4, then turned
    poster = np.asarray(probed.poster)
    assert poster[:3].mean() > 240 and poster[5:].mean() < 15
    for _, rgb in frames:
        assert rgb.shape == (64, 32, 3)
        assert rgb[:14].mean() > 240 and rgb[18:].mean() < 15  # the left quarter is now on top
