"""Where the MRZ may be on a document photo, and its text lines cut out straight.

Classic morphology, as PassportEye does it, on the photo scaled to a fixed working width: a
black-hat brings out dark print on a light ground, its horizontal gradient marks the dense,
evenly spaced characters of a text line, and a horizontal closing joins the characters of a line
(not the lines) into one blob. Blobs wider than `MIN_WIDTH_FRACTION` of the photo and flat
enough are text lines that could belong to the MRZ, which spans the document. Lines stacked at a
steady pitch over the same columns form one candidate block; blocks are tried bottom first, the
MRZ being the document's lowest print.

Each block is straightened by the tilt of its lines (their minimum-area rectangle), for a photo
taken a few degrees askew, and each line is cut out with a margin for the OCR.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Block", "find_blocks", "line_images"]

WORKING_WIDTH = 900
MIN_WIDTH_FRACTION = 0.45
MIN_ASPECT = 4.0
#: Lines of one block overlap by this fraction of the narrower one...
MIN_OVERLAP = 0.7
#: ... and lie at most this many line heights apart (centre to centre).
MAX_PITCH = 3.0
#: At most this many candidate blocks per photo and orientation.
MAX_BLOCKS = 3


@dataclass(frozen=True, slots=True)
class Block:
    """A candidate MRZ block: its lines' outlines (top to bottom, in the photo's pixels), its
    axis-aligned box, and its tilt in degrees."""

    lines: tuple[np.ndarray, ...]
    box: tuple[int, int, int, int]
    angle: float


def _line_blobs(gray: np.ndarray) -> list[np.ndarray]:
    """Outlines (in the photo's pixels) of the wide, flat blobs of dense print: text lines."""
    scale = WORKING_WIDTH / gray.shape[1]
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    small = cv2.resize(gray, (WORKING_WIDTH, max(1, round(gray.shape[0] * scale))), interpolation=interpolation)
    character_kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (13, 5))
    blackhat = cv2.morphologyEx(cv2.GaussianBlur(small, (3, 3), 0), cv2.MORPH_BLACKHAT, character_kernel)
    gradient = np.abs(cv2.Sobel(blackhat, cv2.CV_32F, 1, 0, ksize=-1))
    gradient = cv2.normalize(gradient, np.empty_like(gradient), 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    gradient = cv2.morphologyEx(gradient, cv2.MORPH_CLOSE, character_kernel)
    _, mask = cv2.threshold(gradient, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_RECT, (31, 1)))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 3)))
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    blobs = []
    for contour in contours:
        _, (w, h), _ = cv2.minAreaRect(contour)
        long_side, short_side = max(w, h), max(min(w, h), 1.0)
        if long_side >= MIN_WIDTH_FRACTION * WORKING_WIDTH and long_side / short_side >= MIN_ASPECT:
            blobs.append(contour.reshape(-1, 2).astype(np.float32) / scale)
    return blobs


def _box(points: np.ndarray) -> tuple[int, int, int, int]:
    x, y, w, h = cv2.boundingRect(np.round(points).astype(np.int32))
    return x, y, x + w, y + h


def _same_block(upper: np.ndarray, lower: np.ndarray) -> bool:
    ux0, uy0, ux1, uy1 = _box(upper)
    lx0, ly0, lx1, ly1 = _box(lower)
    overlap = min(ux1, lx1) - max(ux0, lx0)
    height = max(uy1 - uy0, ly1 - ly0, 1)
    pitch = (ly0 + ly1) / 2.0 - (uy0 + uy1) / 2.0
    return overlap >= MIN_OVERLAP * min(ux1 - ux0, lx1 - lx0) and 0 < pitch <= MAX_PITCH * height


def _tilt(points: np.ndarray) -> float:
    # The rectangle's angle is that of one of its sides (which one, and its range, vary between
    # OpenCV versions); a line of text tilted less than 45 degrees needs it modulo 90.
    return (cv2.minAreaRect(points)[2] + 45.0) % 90.0 - 45.0


def find_blocks(gray: np.ndarray) -> list[Block]:
    """Candidate MRZ blocks of a grayscale photo, lowest first."""
    groups: list[list[np.ndarray]] = []
    for line in sorted(_line_blobs(gray), key=lambda blob: _box(blob)[1]):
        group = next((g for g in groups if _same_block(g[-1], line)), None)
        if group is None:
            groups.append([line])
        else:
            group.append(line)
    blocks = []
    for lines in groups:
        points = np.vstack(lines)
        angle = float(np.median([_tilt(line) for line in lines]))
        blocks.append(Block(tuple(lines), _box(points), angle))
    blocks.sort(key=lambda block: -block.box[3])
    return blocks[:MAX_BLOCKS]


def line_images(gray: np.ndarray, block: Block) -> list[np.ndarray]:
    """The block's lines, top to bottom, straightened, each with a margin around it."""
    lines = block.lines
    if abs(block.angle) >= 0.5:
        x0, y0, x1, y1 = block.box
        rotation = cv2.getRotationMatrix2D(((x0 + x1) / 2.0, (y0 + y1) / 2.0), block.angle, 1.0)
        gray = cv2.warpAffine(gray, rotation, gray.shape[::-1], flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)
        lines = tuple(cv2.transform(line[None], rotation)[0] for line in lines)
    height, width = gray.shape
    images = []
    for line in lines:
        x0, y0, x1, y1 = _box(line)
        pad_y, pad_x = int(0.3 * (y1 - y0)) + 2, (y1 - y0) + 2
        image = gray[max(0, y0 - pad_y) : min(height, y1 + pad_y), max(0, x0 - pad_x) : min(width, x1 + pad_x)]
        if image.size:
            images.append(image)
    return images
