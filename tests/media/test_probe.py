from __future__ import annotations

import io
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, ImageFile

from appliance.domain.enums import MediaKind
from appliance.domain.errors import AppError, ErrorCode
from appliance.media import probe_file
from appliance.media.archive import natural_key
from appliance.media.decode import iter_frames_rgb
from appliance.ops.settings import Limits
from tests.support.media_samples import VALID_FACTS, VIDEO_FPS, VIDEO_FRAMES, astronaut_rgb, jpeg_bytes


@pytest.mark.parametrize("name", sorted(VALID_FACTS))
def test_valid_samples_report_their_facts(name: str, valid_samples: dict[str, Path]) -> None:
    facts = VALID_FACTS[name]
    result = probe_file(valid_samples[name], Limits())
    assert (result.kind, result.mime_type, result.extension) == (facts.kind, facts.mime_type, facts.extension)
    assert (result.width, result.height, result.frame_count) == (facts.width, facts.height, facts.frame_count)
    if facts.kind is MediaKind.VIDEO:
        assert result.fps == pytest.approx(VIDEO_FPS)
        assert result.duration_seconds == pytest.approx(VIDEO_FRAMES / VIDEO_FPS)
    else:
        assert result.fps is None and result.duration_seconds is None


def test_malformed_samples_are_refused_with_their_code(malformed_samples: dict[str, tuple[Path, ErrorCode]]) -> None:
    outcomes = {}
    for name, (path, _) in malformed_samples.items():
        try:
            probe_file(path, Limits())
        except AppError as exc:
            assert exc.message, name
            outcomes[name] = exc.code
        else:
            outcomes[name] = None
    assert outcomes == {name: code for name, (_, code) in malformed_samples.items()}


def test_pillow_keeps_refusing_truncated_images() -> None:
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_image_pixel_limit_is_checked(valid_samples: dict[str, Path]) -> None:
    with pytest.raises(AppError) as caught:
        probe_file(valid_samples["png"], Limits(max_image_pixels=512 * 512 - 1))
    assert caught.value.code is ErrorCode.MEDIA_TOO_MANY_PIXELS
    assert probe_file(valid_samples["png"], Limits(max_image_pixels=512 * 512)).width == 512


@pytest.mark.parametrize("name", ["mp4", "avi", "webm_no_duration"])
def test_video_limits(name: str, valid_samples: dict[str, Path]) -> None:
    path = valid_samples[name]
    with pytest.raises(AppError) as caught:
        probe_file(path, Limits(max_video_seconds=2.5))
    assert caught.value.code is ErrorCode.MEDIA_TOO_LONG
    side = VALID_FACTS[name].width
    with pytest.raises(AppError) as caught:
        probe_file(path, Limits(max_image_pixels=side * side - 1))
    assert caught.value.code is ErrorCode.MEDIA_TOO_MANY_PIXELS
    assert probe_file(path, Limits(max_video_seconds=3.0)).frame_count == VIDEO_FRAMES


def test_file_size_limit_is_checked(valid_samples: dict[str, Path]) -> None:
    size = valid_samples["jpeg"].stat().st_size
    with pytest.raises(AppError) as caught:
        probe_file(valid_samples["jpeg"], Limits(max_file_bytes=size - 1))
    assert caught.value.code is ErrorCode.MEDIA_TOO_LARGE
    assert probe_file(valid_samples["jpeg"], Limits(max_file_bytes=size)).kind is MediaKind.IMAGE


def test_archive_entry_limit_is_checked(valid_samples: dict[str, Path]) -> None:
    with zipfile.ZipFile(valid_samples["shots_zip"]) as archive:
        entries = len(archive.infolist())  # frames, a directory and macOS junk: all count
    with pytest.raises(AppError) as caught:
        probe_file(valid_samples["shots_zip"], Limits(max_archive_entries=entries - 1))
    assert caught.value.code is ErrorCode.ARCHIVE_TOO_MANY_ENTRIES
    assert probe_file(valid_samples["shots_zip"], Limits(max_archive_entries=entries)).frame_count == 12


def test_archive_declared_size_limit_is_checked(valid_samples: dict[str, Path]) -> None:
    with zipfile.ZipFile(valid_samples["shots_zip"]) as archive:
        declared = sum(info.file_size for info in archive.infolist())
    with pytest.raises(AppError) as caught:
        probe_file(valid_samples["shots_zip"], Limits(max_archive_bytes=declared - 1))
    assert caught.value.code is ErrorCode.ARCHIVE_TOO_LARGE
    assert probe_file(valid_samples["shots_zip"], Limits(max_archive_bytes=declared)).frame_count == 12


def test_archive_entry_that_inflates_beyond_its_header_is_refused(tmp_path: Path) -> None:
    """Headers can lie: the size in the central directory is patched smaller than the real data."""
    jpeg = jpeg_bytes(astronaut_rgb())
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("frame_1.jpg", jpeg)
    content = bytearray(path.read_bytes())
    central = content.rindex(b"PK\x01\x02")
    size_at = central + 24  # uncompressed size field of the central directory entry
    assert int.from_bytes(content[size_at : size_at + 4], "little") == len(jpeg)
    content[size_at : size_at + 4] = (1000).to_bytes(4, "little")
    path.write_bytes(bytes(content))
    with pytest.raises(AppError) as caught:
        probe_file(path, Limits())
    assert caught.value.code is ErrorCode.MEDIA_CORRUPT
    assert "frame_1.jpg" in caught.value.message


def test_archive_entry_larger_than_a_single_file_is_refused(tmp_path: Path) -> None:
    """An uncompressed PNG deflates within the ZIP, so the archive passes the file size limit while
    its entry, once inflated, would not."""
    buffer = io.BytesIO()
    Image.fromarray(astronaut_rgb()).save(buffer, format="PNG", compress_level=0)
    path = tmp_path / "shots.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("frame_1.png", buffer.getvalue())
    limits = Limits(max_file_bytes=path.stat().st_size)
    assert len(buffer.getvalue()) > limits.max_file_bytes
    with pytest.raises(AppError) as caught:
        probe_file(path, limits)
    assert caught.value.code is ErrorCode.ARCHIVE_TOO_LARGE
    assert probe_file(path, Limits()).frame_count == 1


def test_exotic_compression_is_unsupported(tmp_path: Path) -> None:
    jpeg = jpeg_bytes(astronaut_rgb())
    path = tmp_path / "lzma.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_LZMA) as archive:
        archive.writestr("frame_1.jpg", jpeg)
    with pytest.raises(AppError) as caught:
        probe_file(path, Limits())
    assert caught.value.code is ErrorCode.MEDIA_UNSUPPORTED_TYPE
    assert "compression method" in caught.value.message


def test_encrypted_entry_is_unsupported(tmp_path: Path) -> None:
    path = tmp_path / "encrypted.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("frame_1.jpg", jpeg_bytes(astronaut_rgb()))
    content = bytearray(path.read_bytes())
    content[content.rindex(b"PK\x01\x02") + 8] |= 0x1  # general purpose flags: encrypted
    path.write_bytes(bytes(content))
    with pytest.raises(AppError) as caught:
        probe_file(path, Limits())
    assert caught.value.code is ErrorCode.MEDIA_UNSUPPORTED_TYPE
    assert "encrypted" in caught.value.message


def test_natural_order() -> None:
    names = ["f10.jpg", "f2.jpg", "F1.jpg", "f1b.jpg", "a/f3.jpg", "f02.jpg"]
    assert sorted(names, key=natural_key) == ["a/f3.jpg", "F1.jpg", "f1b.jpg", "f02.jpg", "f2.jpg", "f10.jpg"]


def _recorded(path: Path, codec: str, frames: int, muxer_options: dict[str, str] | None) -> Path:
    """A 320x240 30 fps video as a camera, a phone or a browser writes it: PyAV's FFmpeg encoders."""
    with av.open(str(path), "w", options=muxer_options or {}) as out:
        stream = out.add_stream(codec, rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 240, "yuv420p"
        stream.options = ENCODER_OPTIONS.get(codec, {})
        for index in range(frames):
            rgb = np.zeros((240, 320, 3), np.uint8)
            rgb[:, :80] = 255
            rgb[:, 80:, 1] = index * 5
            out.mux(stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(stream.encode())
    return path


#: x265 on one thread: the same packets however loaded the machine is, and no log on stderr.
ENCODER_OPTIONS = {"libx265": {"x265-params": "frame-threads=1:pools=none:log-level=error"}}
RECORDED = {
    "h264.mp4": ("libx264", None),
    "h264_fragmented.mp4": ("libx264", {"movflags": "frag_keyframe+empty_moov+default_base_moof"}),  # Safari's
    "hevc.mov": ("libx265", None),  # a phone's
    "vp9.webm": ("libvpx-vp9", None),  # a browser's
    "vp8.mkv": ("libvpx", None),
}


#: Every recording at 45 frames, and at 2: the file ends while the probe still looks for its
#: thumbnail's frame (FFmpeg's MOV muxer sometimes refuses to write a 2-frame HEVC stream).
RECORDINGS = [(name, 45) for name in sorted(RECORDED)] + [(name, 2) for name in sorted(RECORDED) if name != "hevc.mov"]


@pytest.mark.parametrize(("name", "frames"), RECORDINGS)
def test_recorded_videos_probe_as_they_decode_and_are_refused_cut_short(name: str, frames: int, tmp_path: Path) -> None:
    codec, muxer_options = RECORDED[name]
    video = _recorded(tmp_path / name, codec, frames, muxer_options)
    probed = probe_file(video, Limits(), poster_side=64)
    decoded = [rgb for _, rgb in iter_frames_rgb(video, MediaKind.VIDEO)]

    assert (probed.width, probed.height, probed.frame_count) == (320, 240, len(decoded)) and len(decoded) == frames
    assert probed.fps == pytest.approx(30) and probed.duration_seconds == pytest.approx(frames / 30)
    assert probed.poster is not None and probed.poster.size == (64, 48)
    assert np.asarray(probed.poster)[:, :14].min() > 200  # the white quarter, on the left
    if frames > 2:
        cut = tmp_path / f"cut_{name}"
        cut.write_bytes(video.read_bytes()[: video.stat().st_size * 2 // 3])
        with pytest.raises(AppError) as refused:
            probe_file(cut, Limits())
        assert refused.value.code is ErrorCode.MEDIA_CORRUPT
