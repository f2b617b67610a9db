"""Media files: type sniffing, validation against the limits, content-addressed storage, previews
and decoding. No HTTP and no database here."""

from __future__ import annotations

from appliance.media.decode import iter_frames_rgb, load_image_rgb, read_frame_rgb
from appliance.media.memory import in_memory_file, probe_bytes
from appliance.media.previews import make_shots_preview, make_thumbnail
from appliance.media.probe import ProbeResult, probe_file
from appliance.media.sniff import Sniffed, sniff_bytes, sniff_file
from appliance.media.storage import LocalMediaStorage, MediaStorage, Served, StoredFile, open_storage

__all__ = [
    "LocalMediaStorage",
    "MediaStorage",
    "ProbeResult",
    "Served",
    "Sniffed",
    "StoredFile",
    "in_memory_file",
    "iter_frames_rgb",
    "load_image_rgb",
    "make_shots_preview",
    "make_thumbnail",
    "open_storage",
    "probe_bytes",
    "probe_file",
    "read_frame_rgb",
    "sniff_bytes",
    "sniff_file",
]
