"""Finding and reading an MRZ printed in OCR-B with a known text: upright, tilted, turned, small."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from appliance_plugin_documents.ocr import LineReading, TextLineReader
from appliance_plugin_documents.reader import fit_length, read_mrz
from documents_cards import needs_ocr_b, passport_page, td3_lines
from PIL import Image

pytestmark = needs_ocr_b
LINES = td3_lines()
GREY = (120, 120, 120)


@pytest.fixture(scope="module")
def reader() -> TextLineReader:
    return TextLineReader()


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    path = passport_page(LINES, tmp_path_factory.mktemp("pages") / "page.jpg")
    return np.asarray(Image.open(path).convert("RGB"))


def _tilted(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    return lambda rgb: np.asarray(Image.fromarray(rgb).rotate(degrees, expand=True, fillcolor=GREY))


@pytest.mark.parametrize(
    ("change", "rotation"),
    [
        (lambda rgb: rgb, 0),
        (_tilted(7), 0),
        (_tilted(-9), 0),
        (lambda rgb: rgb[::-1, ::-1], 180),
        (np.rot90, 90),
        (lambda rgb: cv2.resize(rgb, (500, 352), interpolation=cv2.INTER_AREA), 0),
    ],
    ids=["upright", "tilted 7", "tilted -9", "upside down", "on its side", "small"],
)
def test_the_printed_mrz_is_read_back(
    page: np.ndarray, reader: TextLineReader, change: Callable[[np.ndarray], np.ndarray], rotation: int
) -> None:
    rgb = np.ascontiguousarray(change(page))
    reading = read_mrz(rgb, reader)
    assert reading is not None
    assert reading.document.lines == LINES and reading.document.checks_passed
    assert reading.rotation == rotation
    assert reading.confidence > 0.9


def test_the_box_is_where_the_mrz_was_printed(page: np.ndarray, reader: TextLineReader) -> None:
    upright = read_mrz(page, reader)
    turned = read_mrz(np.ascontiguousarray(page[::-1, ::-1]), reader)
    assert upright is not None and turned is not None
    x0, y0, x1, y1 = upright.box
    assert y0 > 0.75 * page.shape[0] and x1 - x0 > 0.8 * page.shape[1]
    height, width = page.shape[:2]
    assert turned.box == pytest.approx((width - x1, height - y1, width - x0, height - y0), abs=4)


def test_a_photo_without_mrz_gives_none(page: np.ndarray, reader: TextLineReader) -> None:
    assert read_mrz(np.ascontiguousarray(page[:500]), reader) is None


def test_a_wrong_check_digit_is_read_as_printed(tmp_path: Path, reader: TextLineReader) -> None:
    first, second = LINES
    tampered = (first, second[:27] + str((int(second[27]) + 1) % 10) + second[28:])
    rgb = np.asarray(Image.open(passport_page(tampered, tmp_path / "tampered.jpg")).convert("RGB"))
    reading = read_mrz(rgb, reader)
    assert reading is not None and reading.document.lines == tampered
    assert reading.document.checks["expiry_date"] is False


@pytest.mark.parametrize(
    ("text", "fitted"),
    [("P<UTO<<<A", "P<UTO<<<A"), ("P<UTO<<<<<A", "P<UTO<<<A"), ("P<UTO<A", "P<UTO<<<A"), ("P<UTOXXXXXXXA", None)],
)
def test_chevrons_merged_or_split_by_the_ocr_are_fitted(text: str, fitted: str | None) -> None:
    reading = fit_length(LineReading(text, tuple(text), 1.0), 9)
    assert (reading.text if reading else None) == fitted
    assert reading is None or len(reading.alternatives) == 9
