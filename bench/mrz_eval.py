"""MRZ reading accuracy of the DOCUMENTS plugin on the labelled specimen documents of the shared data.

For each document of `documents/mrz_labels.csv`: whether the MRZ was found, its format, whether
the lines read equal the labelled lines, whether every check digit passed, and the time to find
and read it (one thread, the OCR model already loaded). Then, over all documents:

- per-field accuracy: each field read (document type, issuer, names, number, nationality, birth
  date, sex, expiry, optional data) against the same field parsed from the labelled lines;
- line accuracy (exact lines) and character accuracy (positions equal, over the labelled length);
- check-digit pass rate: check digits that passed over all check digits read, and the documents
  whose check digits all passed.

The labels mark the US visa's optional data (line 2 from position 29, no check digit) as
unverified: a mismatch there may be the label's.

    .venv/bin/python bench/mrz_eval.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from appliance_plugin_documents.icao import parse_mrz
from appliance_plugin_documents.ocr import TextLineReader, installed_version
from appliance_plugin_documents.reader import read_mrz
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]


def _labelled(row: dict[str, str]) -> list[str]:
    return [row[f"mrz_line{i}"] for i in (1, 2, 3) if row[f"mrz_line{i}"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    default_data = os.environ.get("APPLIANCE_TEST_DATA") or str(REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    args = parser.parse_args()
    labels = args.data / "documents" / "mrz_labels.csv"
    if not labels.is_file():
        print(f"mrz_eval: no labels at {labels} (set --data or APPLIANCE_TEST_DATA)", file=sys.stderr)
        return 1
    with labels.open(newline="") as file:
        rows = list(csv.DictReader(file))

    reader = TextLineReader()
    reader.read(np.full((48, 200), 255, np.uint8))  # load the model outside the timings
    field_hits: dict[str, list[bool]] = defaultdict(list)
    lines_exact = lines_total = chars_equal = chars_total = checks_passed = checks_total = documents_verified = 0
    found = 0
    seconds = []
    print(f"OCR model {installed_version()}\n")
    print(f"{'document':<22} {'found':<6} {'format':<6} {'lines':<6} {'checks':<7} {'ms':>6}")
    for row in rows:
        rgb = np.asarray(Image.open(args.data / row["file"]).convert("RGB"))
        start = time.perf_counter()
        reading = read_mrz(rgb, reader)
        seconds.append(time.perf_counter() - start)
        truth = _labelled(row)
        expected = parse_mrz(truth)
        lines_total += len(truth)
        chars_total += sum(len(line) for line in truth)
        name = Path(row["file"]).name
        if reading is None:
            print(f"{name:<22} {'no':<6} {'-':<6} {'-':<6} {'-':<7} {seconds[-1] * 1000:>6.0f}")
            for field in expected.fields:
                field_hits[field].append(False)
            continue
        found += 1
        document = reading.document
        read = list(document.lines)
        lines_exact += sum(a == b for a, b in zip(read, truth))
        chars_equal += sum(x == y for a, b in zip(read, truth) for x, y in zip(a, b))
        checks_passed += sum(document.checks.values())
        checks_total += len(document.checks)
        documents_verified += document.checks_passed
        for field, value in expected.fields.items():
            field_hits[field].append(document.fields.get(field) == value)
        exact = "exact" if read == truth else "diff"
        checks = f"{sum(document.checks.values())}/{len(document.checks)}"
        print(f"{name:<22} {'yes':<6} {document.format:<6} {exact:<6} {checks:<7} {seconds[-1] * 1000:>6.0f}")

    print("\nper-field accuracy")
    for field, hits in field_hits.items():
        print(f"  {field:<16} {sum(hits)}/{len(hits)}  {sum(hits) / len(hits):.3f}")
    print(f"\nMRZ found            {found}/{len(rows)}")
    print(f"lines exact          {lines_exact}/{lines_total}")
    print(f"character accuracy   {chars_equal / chars_total:.4f}")
    print(f"check digits passed  {checks_passed}/{checks_total}  ({checks_passed / max(checks_total, 1):.3f})")
    print(f"documents verified   {documents_verified}/{len(rows)}  (every check digit passed)")
    print(f"time per document    median {statistics.median(seconds) * 1000:.0f} ms, max {max(seconds) * 1000:.0f} ms")
    return 0 if found == len(rows) and documents_verified == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
