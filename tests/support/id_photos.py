"""ID-style photos for BIOMETRY tests: a face placed on a card with text, as an ID's front side.

Built from a real face (a frame of a video, a photo): the portrait takes the left third of a
card-coloured background with printed lines on the right, the way an ID card's photo side looks.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

__all__ = ["id_card_from", "video_frame"]

CARD_SIZE = (856, 540)  # ID-1 proportions (85.6 x 54 mm) at 10 px/mm


def video_frame(path: Path, index: int) -> np.ndarray:
    """Frame `index` of a video, RGB."""
    capture = cv2.VideoCapture(str(path))
    try:
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, bgr = capture.read()
    finally:
        capture.release()
    if not ok:
        raise ValueError(f"{path.name} has no frame {index}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def id_card_from(rgb: np.ndarray, face_box: tuple[int, int, int, int], destination: Path) -> Path:
    """Write a JPEG ID card whose portrait is the region around `face_box` (x0, y0, x1, y1) of `rgb`."""
    x0, y0, x1, y1 = face_box
    w, h = x1 - x0, y1 - y0
    top, bottom = max(0, y0 - h // 2), min(rgb.shape[0], y1 + h // 2)
    left, right = max(0, x0 - w // 3), min(rgb.shape[1], x1 + w // 3)
    portrait = cv2.resize(rgb[top:bottom, left:right], (250, 330), interpolation=cv2.INTER_AREA)
    card = np.full((CARD_SIZE[1], CARD_SIZE[0], 3), (214, 226, 236), np.uint8)
    card[120:450, 40:290] = portrait
    bgr = cv2.cvtColor(card, cv2.COLOR_RGB2BGR)
    cv2.putText(bgr, "REPUBLIC OF SPECIMEN", (40, 80), cv2.FONT_HERSHEY_SIMPLEX, 1.2, (60, 40, 20), 2)
    for row, text in enumerate(("SURNAME  SAMPLE", "GIVEN NAMES  ALEX", "BORN  01.01.1990", "NO  X1234567")):
        cv2.putText(bgr, text, (330, 170 + 60 * row), cv2.FONT_HERSHEY_SIMPLEX, 0.9, (40, 40, 40), 2)
    cv2.imwrite(str(destination), bgr, [cv2.IMWRITE_JPEG_QUALITY, 92])
    return destination
