"""Every specimen document of the shared data: its MRZ is found, read as labelled, and its check digits agree."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest
from appliance_plugin_documents.ocr import TextLineReader
from appliance_plugin_documents.reader import read_mrz
from PIL import Image

SHARED = Path(os.environ.get("APPLIANCE_TEST_DATA") or Path(__file__).resolve().parents[4] / "shared" / "data")
LABELS = SHARED / "documents" / "mrz_labels.csv"
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not LABELS.is_file(), reason="shared test data directory absent (set APPLIANCE_TEST_DATA)"),
]
#: Where the labels say a transcription is unverified: line 2 of the US visa from position 29 on.
UNVERIFIED = {"documents/100_visa-usa.jpg": (1, 28)}


def _specimens() -> list[dict[str, str]]:
    if not LABELS.is_file():
        return []
    with LABELS.open(newline="") as labels:
        return list(csv.DictReader(labels))


@pytest.fixture(scope="module")
def reader() -> TextLineReader:
    return TextLineReader()


@pytest.mark.parametrize("row", _specimens(), ids=lambda row: Path(row["file"]).name)
def test_every_specimen_mrz_is_found_read_and_verified(row: dict[str, str], reader: TextLineReader) -> None:
    rgb = np.asarray(Image.open(SHARED / row["file"]).convert("RGB"))
    reading = read_mrz(rgb, reader)
    assert reading is not None, f"no MRZ found on {row['file']}"
    labelled = [row[f"mrz_line{i}"] for i in (1, 2, 3) if row[f"mrz_line{i}"]]
    read = list(reading.document.lines)
    if row["file"] in UNVERIFIED:
        line, end = UNVERIFIED[row["file"]]
        read[line], labelled[line] = read[line][:end], labelled[line][:end]
    assert (reading.document.format, read) == (row["format"], labelled)
    assert reading.document.checks_passed, reading.document.checks
    assert reading.rotation == 0


def test_there_are_specimens_of_every_format() -> None:
    assert {row["format"] for row in _specimens()} == {"TD1", "TD2", "TD3", "MRVA"}
