"""DOCUMENTS: read the MRZ of ID documents (ICAO 9303) and find their portrait (built-in plugin).

Media: images tagged `photo_id`, `photo_id_front` or `photo_id_back`, at least one. On each, the
MRZ is searched and read (reader.py: locate.py finds it, ocr.py reads it, icao.py parses TD1,
TD2, TD3, MRV-A and MRV-B with every check digit); on each photo not tagged `photo_id_back`, the
portrait is the largest face of the media's shared face track (portrait.py), the face BIOMETRY
compares.

Results, per media: `mrz_found`, and when found `format`, `mrz_lines` (corrected), `ocr_lines`
(as read), `mrz_box` (x0, y0, x1, y1 in pixels), `rotation` (the clockwise turn that made it
readable), `confidence` (the OCR's mean character probability), `fields`, `checks` (check digit
name -> passed), `corrections` (characters changed by the field-wise correction), `expired`;
and `portrait_found`, `portrait_box`, with the crop as output image `portrait`. For the analysis:
`mrz_found`, `document` (the fields of the first MRZ whose check digits pass, else the first
MRZ), `checks`, `reasons`, and `text_fields` in the Oz shape (`field_name`, `visual` (always
null: the visual zone is not read), `mrz`).

Decision (decision.py): SUCCESS when an MRZ is read, its check digits pass and the document has
not expired; DECLINED on a failed check digit, an expiry that is no date, or an expired document;
OPERATOR_REQUIRED when no photo has an MRZ.

Params: `decline_expired` (default true): false to accept expired documents (the MRZ is still
verified).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np

from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    DoctorCheck,
    MediaInput,
    MediaKind,
    MediaResult,
    MediaRule,
    Outcome,
    OutputImage,
    hookimpl,
)
from appliance_plugin_documents.decision import decide, is_expired
from appliance_plugin_documents.ocr import OcrUnavailable, TextLineReader, installed_version
from appliance_plugin_documents.portrait import find_portrait
from appliance_plugin_documents.reader import MrzReading, read_mrz

__version__ = "0.1.0"

MEDIA_RULE = MediaRule(kinds=frozenset({MediaKind.IMAGE}), tag_prefixes=("photo_id",), min_count=1)
BACK_TAG = "photo_id_back"
#: The OCR model's name in `model_versions`.
OCR_MODEL = "ppocr-rec"


def _mrz_data(reading: MrzReading | None, today: date) -> dict[str, Any]:
    if reading is None:
        return {"mrz_found": False}
    document = reading.document
    return {
        "mrz_found": True,
        "format": document.format,
        "mrz_lines": list(document.lines),
        "ocr_lines": list(reading.ocr_lines),
        "mrz_box": list(reading.box),
        "rotation": reading.rotation,
        "confidence": round(reading.confidence, 4),
        "fields": document.fields,
        "checks": document.checks,
        "corrections": document.corrections,
        "expired": is_expired(document, today),
    }


def _text_fields(fields: dict[str, str | None]) -> list[dict[str, str | None]]:
    return [{"field_name": name, "visual": None, "mrz": value} for name, value in fields.items()]


class DocumentsAnalyzer:
    def __init__(self) -> None:
        self._reader = TextLineReader()

    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        today = datetime.now(UTC).date()
        decline_expired = request.params["decline_expired"]
        if not isinstance(decline_expired, bool):
            raise ValueError(f"param decline_expired must be true or false, not {decline_expired!r}")
        models = {OCR_MODEL: installed_version()}  # fails first, naming what to install
        readings: list[MrzReading] = []
        results = []
        for media in request.media:
            rgb = ctx.image(media)
            reading = read_mrz(rgb, self._reader, today=today)
            if reading is not None:
                readings.append(reading)
            data = _mrz_data(reading, today)
            images: tuple[OutputImage, ...] = ()
            if BACK_TAG not in media.tags:
                data_portrait, images = self._portrait(media, rgb, ctx, models)
                data.update(data_portrait)
            results.append(MediaResult(media.media_id, data, images))
        documents = [r.document for r in readings]
        resolution, reasons = decide(documents, decline_expired=decline_expired, today=today)
        chosen = next((d for d in documents if d.checks_passed), documents[0] if documents else None)
        results_data: dict[str, Any] = {"mrz_found": chosen is not None, "reasons": reasons}
        if chosen is not None:
            results_data.update(document=chosen.fields, checks=chosen.checks, text_fields=_text_fields(chosen.fields))
        return Outcome(resolution, results_data, tuple(results), models)

    @staticmethod
    def _portrait(
        media: MediaInput, rgb: np.ndarray, ctx: AnalysisContext, models: dict[str, str]
    ) -> tuple[dict[str, Any], tuple[OutputImage, ...]]:
        track = ctx.faces(media)
        models.update(track.models)
        portrait = find_portrait(track, rgb)
        if portrait is None:
            return {"portrait_found": False}, ()
        data = {"portrait_found": True, "portrait_box": [round(v, 1) for v in portrait.face_box]}
        return data, (OutputImage("portrait", portrait.jpeg),)


@hookimpl
def register_analyzers(registry: AnalyzerRegistry) -> None:
    registry.register(
        AnalyzerSpec(
            type="DOCUMENTS",
            analyzer=DocumentsAnalyzer(),
            media_rule=MEDIA_RULE,
            default_params={"decline_expired": True},
            description="MRZ of ID documents read and verified (ICAO 9303), and their portrait",
        )
    )


@hookimpl
def doctor_checks() -> list[DoctorCheck]:
    """The OCR model and ONNX Runtime are installed (found, not loaded: the doctor stays quick)."""
    try:
        version = installed_version()
    except OcrUnavailable as exc:
        return [DoctorCheck("ocr", "fail", str(exc))]
    return [DoctorCheck("ocr", "ok", f"MRZ text recognition model {version}")]
