"""Find and read the MRZ of a document photo: candidate blocks, their lines read, the lines parsed.

For each orientation in `ROTATIONS` (upright first, then upside down, then on either side), the
candidate blocks (locate.py) are read line by line (ocr.py). Every run of consecutive lines that
has the shape of an MRZ (three lines of about 30 characters, or two of about 36 or 44) is fitted
to the exact length, by adding or removing fillers in its longest run of `<` (OCR merges or
splits chevrons, never the other characters of a line), and parsed (icao.py). The reading whose
check digits pass, else the one with most passing, wins; ties go to the OCR's confidence. The
search stops at the first orientation with a reading.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import cv2
import numpy as np

from appliance_plugin_documents.icao import FILLER, MrzDocument, MrzError, parse_mrz
from appliance_plugin_documents.locate import find_blocks, line_images
from appliance_plugin_documents.ocr import LineReading, TextLineReader

__all__ = ["ROTATIONS", "MrzReading", "fit_length", "read_mrz"]

#: Clockwise turns of the photo tried, in order.
ROTATIONS = (0, 180, 90, 270)
_TURN = {90: cv2.ROTATE_90_CLOCKWISE, 180: cv2.ROTATE_180, 270: cv2.ROTATE_90_COUNTERCLOCKWISE}
#: MRZ shapes: line count -> line lengths.
_SHAPES = {3: (30,), 2: (36, 44)}
#: A line read this many characters too long or too short is still fitted.
MAX_LENGTH_GAP = 4


@dataclass(frozen=True, slots=True)
class MrzReading:
    """An MRZ found on a photo: the parsed document, where it is, and how certain the OCR was."""

    document: MrzDocument
    #: The MRZ block's box (x0, y0, x1, y1) in the upright photo's pixels.
    box: tuple[int, int, int, int]
    #: The clockwise turn (degrees) that made the MRZ readable: 0 for an upright photo.
    rotation: int
    #: Mean probability the OCR gave the characters it read, 0..1.
    confidence: float
    #: The lines as the OCR read them, before fitting and correction.
    ocr_lines: tuple[str, ...]

    def rank(self) -> tuple[bool, int, float]:
        checks = self.document.checks
        return self.document.checks_passed, sum(checks.values()), self.confidence


def fit_length(reading: LineReading, length: int) -> LineReading | None:
    """`reading` made `length` characters long by changing its longest run of fillers; None when
    it is more than MAX_LENGTH_GAP off or has no run of fillers long enough to give."""
    gap = length - len(reading.text)
    if gap == 0:
        return reading
    runs = [m for m in re.finditer(f"{FILLER}+", reading.text)]
    if abs(gap) > MAX_LENGTH_GAP or not runs:
        return None
    run = max(reversed(runs), key=lambda m: len(m.group()))  # of equal runs the last: lines end in fillers
    if gap < 0 and len(run.group()) < -gap:
        return None
    at = run.end() if gap > 0 else run.end() + gap
    text = reading.text[:at] + FILLER * max(gap, 0) + reading.text[run.end() :]
    alternatives = reading.alternatives[:at] + (FILLER,) * max(gap, 0) + reading.alternatives[run.end() :]
    return LineReading(text, alternatives, reading.confidence)


def _parse_window(window: Sequence[LineReading], today: date | None) -> MrzDocument | None:
    mean_length = sum(len(r.text) for r in window) / len(window)
    length = min(_SHAPES[len(window)], key=lambda n: abs(n - mean_length))
    fitted = [f for r in window if (f := fit_length(r, length)) is not None]
    if len(fitted) < len(window):
        return None
    try:
        return parse_mrz([f.text for f in fitted], [f.alternatives for f in fitted], today=today)
    except MrzError:
        return None


def _unturn(box: tuple[int, int, int, int], rotation: int, shape: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box of the photo turned by `rotation`, in the upright photo's pixels (`shape` its height, width)."""
    height, width = shape
    x0, y0, x1, y1 = box
    corners = {
        0: ((x0, y0), (x1, y1)),
        180: ((width - x1, height - y1), (width - x0, height - y0)),
        90: ((y0, height - x1), (y1, height - x0)),
        270: ((width - y1, x0), (width - y0, x1)),
    }[rotation]
    (a, b), (c, d) = corners
    return (int(a), int(b), int(c), int(d))


def read_mrz(rgb: np.ndarray, reader: TextLineReader, *, today: date | None = None) -> MrzReading | None:
    """The MRZ of the document photo `rgb` (RGB uint8), or None when none is found (see the module's docstring)."""
    upright = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    for rotation in ROTATIONS:
        gray = cv2.rotate(upright, _TURN[rotation]) if rotation else upright
        best: MrzReading | None = None
        for block in find_blocks(gray):
            lines = [reader.read(image) for image in line_images(gray, block)]
            for size in _SHAPES:
                for start in range(len(lines) - size + 1):
                    window = lines[start : start + size]
                    document = _parse_window(window, today)
                    if document is None:
                        continue
                    confidence = float(np.mean([r.confidence for r in window]))
                    box = _unturn(block.box, rotation, upright.shape)
                    reading = MrzReading(document, box, rotation, confidence, tuple(r.text for r in window))
                    if best is None or reading.rank() > best.rank():
                        best = reading
            if best is not None and best.document.checks_passed:
                break
        if best is not None:
            return best
    return None
