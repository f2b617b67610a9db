"""Pillow helpers shared by probing, decoding and thumbnails.

Pillow's `ImageFile.LOAD_TRUNCATED_IMAGES` must stay False (its default): with it set, a truncated
image would load with grey padding instead of failing the probe.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from PIL import Image, ImageOps

__all__ = ["POSTER_SEARCH_FRAMES", "PIL_FORMATS", "draft_for_side", "first_bright", "oriented_size", "to_rgb"]

#: The Pillow decoder allowed for each accepted image type, so a file is never parsed as anything
#: other than what it was sniffed as.
PIL_FORMATS: dict[str, str] = {"image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WEBP"}

#: A video's thumbnail is its first frame whose mean brightness (0-255) reaches `_BRIGHT_ENOUGH`:
#: a camera's first frames are often dark while its exposure settles. Only the first
#: `POSTER_SEARCH_FRAMES` are looked at (decoding further costs every upload), and the brightest
#: of them is taken when none is bright.
_BRIGHT_ENOUGH = 48
POSTER_SEARCH_FRAMES = 30

_ORIENTATION_TAG = 0x0112
_SWAPS_SIDES = frozenset({5, 6, 7, 8})  # EXIF orientations that rotate by 90 or 270 degrees


def oriented_size(img: Image.Image) -> tuple[int, int]:
    """(width, height) as the image is meant to be seen, after its EXIF orientation."""
    if img.getexif().get(_ORIENTATION_TAG) in _SWAPS_SIDES:
        return img.height, img.width
    return img.width, img.height


def to_rgb(img: Image.Image) -> Image.Image:
    """The image upright (EXIF orientation applied) in RGB; transparency is flattened onto white."""
    upright = ImageOps.exif_transpose(img)
    if upright.mode in ("RGBA", "LA", "PA") or (upright.mode == "P" and "transparency" in upright.info):
        rgba = upright.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return upright.convert("RGB")


def draft_for_side(img: Image.Image, side: int) -> None:
    """Let a JPEG decode at the smallest scale (1/2, 1/4, 1/8) that keeps its longer side at least
    `side` pixels: much faster, and every coefficient is still read. Other formats ignore it."""
    img.draft("RGB", (side, 1) if img.width >= img.height else (1, side))


def first_bright(frames: Iterable[np.ndarray]) -> np.ndarray | None:
    """The first of `frames` bright enough for a thumbnail, else the brightest; None if there are none.
    Stops reading `frames` at the first bright one."""
    brightest: tuple[float, np.ndarray] | None = None
    for frame in frames:
        brightness = float(frame.mean())
        if brightness >= _BRIGHT_ENOUGH:
            return frame
        if brightest is None or brightness > brightest[0]:
            brightest = (brightness, frame)
    return brightest[1] if brightest else None
