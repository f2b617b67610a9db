"""Document photos made for the tests: an MRZ of known text printed in OCR-B, optionally beside a
real face, as a passport's data page looks.

The font is Debian's `fonts-ocr-b` (the typeface ICAO 9303 prescribes for MRZs); .ci/run installs
it. Elsewhere, tests that print an MRZ skip, naming the package, except under CI=true.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from appliance_plugin_documents.icao import check_digit
from PIL import Image, ImageDraw, ImageFont
from skimage import data

__all__ = ["OCR_B", "needs_ocr_b", "passport_page", "td3_lines"]

OCR_B = Path("/usr/share/fonts/opentype/ocr-b/OCRB.otf")
needs_ocr_b = pytest.mark.skipif(
    not OCR_B.is_file() and os.environ.get("CI") != "true", reason="Debian package fonts-ocr-b absent (OCR-B font)"
)
PAGE_SIZE = (1250, 880)
#: The astronaut's face in skimage's photo (x0, y0, x1, y1), with room around it.
ASTRONAUT_HEAD = (130, 20, 330, 250)


def td3_lines(
    number: str = "L898902C3",
    birth: str = "740812",
    expiry: str = "341231",
    personal: str = "ZE184226B",
    *,
    surname: str = "ERIKSSON",
    given_names: str = "ANNA<MARIA",
) -> tuple[str, str]:
    """A passport's two MRZ lines (TD3) with correct check digits."""
    first = f"P<UTO{surname}<<{given_names}".ljust(44, "<")
    number_part = number.ljust(9, "<") + check_digit(number.ljust(9, "<"))
    personal_part = personal.ljust(14, "<") + check_digit(personal.ljust(14, "<"))
    body = f"{number_part}UTO{birth}{check_digit(birth)}F{expiry}{check_digit(expiry)}{personal_part}"
    composite = check_digit(body[:10] + body[13:20] + body[21:43])
    return first, body + composite


def passport_page(lines: Sequence[str], destination: Path, *, face: bool = True, font_size: int = 34) -> Path:
    """A JPEG passport data page: the MRZ `lines` at the bottom, a portrait (skimage's astronaut)
    at the left when `face`, printed fields beside it."""
    page = Image.new("RGB", PAGE_SIZE, (236, 232, 222))
    draw = ImageDraw.Draw(page)
    font = ImageFont.truetype(str(OCR_B), font_size)
    small = ImageFont.truetype(str(OCR_B), 26)
    if face:
        head = Image.fromarray(
            np.ascontiguousarray(
                data.astronaut()[ASTRONAUT_HEAD[1] : ASTRONAUT_HEAD[3], ASTRONAUT_HEAD[0] : ASTRONAUT_HEAD[2]]
            )
        )
        page.paste(head.resize((300, 345)), (60, 150))
    draw.text((420, 50), "UTOPIA  PASSPORT", font=font, fill=(30, 30, 60))
    for row, text in enumerate(("SURNAME  ERIKSSON", "GIVEN NAMES  ANNA MARIA", "NATIONALITY  UTOPIAN", "SEX  F")):
        draw.text((420, 170 + 70 * row), text, font=small, fill=(40, 40, 40))
    top = PAGE_SIZE[1] - 60 - len(lines) * int(font_size * 1.7)
    for row, line in enumerate(lines):
        draw.text((60, top + row * int(font_size * 1.7)), line, font=font, fill=(20, 20, 20))
    page.save(destination, quality=90)
    return destination
