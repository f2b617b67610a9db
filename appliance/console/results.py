"""What the folder page shows of each analysis: its results as tables and images.

Whatever a plugin puts in `results_data` is shown as key/value rows (nested objects with dotted
keys), so a third party's analysis is readable without code here. The built-in types get tables
of their own on top: QUALITY (liveness score, gestures, reasons, best shot), BIOMETRY (the
confidence of each pair), DOCUMENTS (the document's fields and checks) and COLLECTION (the
persons matched). Long lists of numbers are summarised, never printed: they could be face
embeddings.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["AnalysisView", "Image", "MediaResultView", "Table", "analysis_view", "flatten", "show_value"]

#: Lists of numbers longer than this are summarised.
MAX_NUMBERS_SHOWN = 8


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    columns: tuple[str, ...]
    rows: Sequence[tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Image:
    title: str
    url: str


@dataclass(slots=True)
class MediaResultView:
    media_name: str
    media_id: str
    tables: list[Table] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)


@dataclass(slots=True)
class AnalysisView:
    doc: dict[str, Any]
    tables: list[Table] = field(default_factory=list)
    media: list[MediaResultView] = field(default_factory=list)


def show_value(value: Any) -> str:
    """A JSON value as a short text."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        if len(value) > MAX_NUMBERS_SHOWN and all(isinstance(v, int | float) for v in value):
            return f"[{len(value)} numbers]"
        return ", ".join(show_value(v) for v in value) or "–"
    return str(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(dotted key, shown value) of every leaf of a JSON object."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten(value, f"{name}.")
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, item in enumerate(value):
                yield from flatten(item, f"{name}[{i}].")
        else:
            yield name, show_value(value)


def _all_numbers(data: Mapping[str, Any]) -> Table:
    return Table("All results", ("key", "value"), list(flatten(data)))


# The built-in types ---------------------------------------------------------------------------------


def _quality_media(data: Mapping[str, Any]) -> list[Table]:
    tables = []
    score = data.get("confidence_spoofing")
    found = data.get("passive")
    passive: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    operator = data.get("operator_reasons")
    if score is not None or operator:
        liveness = [("confidence of an attack", show_value(score)), ("threshold", show_value(passive.get("threshold")))]
        liveness.append(("decided by", show_value(passive.get("decided_by"))))
        if isinstance(operator, list) and operator:
            liveness.append(("sent to an operator because", ", ".join(str(r) for r in operator)))
        tables.append(Table("Liveness", ("check", "value"), liveness))
    outside = passive.get("outside_live_envelope")
    if isinstance(outside, list) and outside:
        # the cues on which this face is like no live face the fusion was fitted on
        past = [
            (str(o.get("cue")), show_value(o.get("value")), f"{o.get('outside')} {show_value(o.get('edge'))}")
            for o in outside
            if isinstance(o, Mapping)
        ]
        tables.append(Table("Past the live envelope", ("cue", "value", "no live face was"), past))
    terms = passive.get("terms")
    if isinstance(terms, Mapping) and terms:
        # what moved the decision: each cue's part of the attack log-odds, the largest first
        ranked = sorted(terms.items(), key=lambda item: -abs(item[1]) if isinstance(item[1], int | float) else 0.0)
        cues = [(str(name), show_value(value)) for name, value in ranked]
        tables.append(Table("Liveness cues", ("cue", "towards attack (+) or live (-)"), cues))
    gestures = data.get("gestures")
    if isinstance(gestures, Mapping) and gestures:
        rows = [
            (tag, show_value(g.get("passed")), str(g.get("failed_check") or "–"))
            for tag, g in gestures.items()
            if isinstance(g, Mapping)
        ]
        tables.append(Table("Gestures", ("gesture", "passed", "failed check"), rows))
    reasons = data.get("reasons")
    if isinstance(reasons, list) and reasons:
        reason_rows = [
            (str(r.get("reason", "?")), ", ".join(f"{k}={show_value(v)}" for k, v in r.items() if k != "reason"))
            for r in reasons
            if isinstance(r, Mapping)
        ]
        tables.append(Table("Quality reasons", ("reason", "numbers"), reason_rows))
    return tables


def _biometry(data: Mapping[str, Any], names: Mapping[str, str]) -> list[Table]:
    tables = []
    if "min_confidence" in data:
        rows = [(k, show_value(data.get(k))) for k in ("min_confidence", "max_confidence")]
        point = data.get("operating_point")
        if isinstance(point, Mapping):  # the threshold the score was held against, and why that one
            rows.append(("threshold", show_value(point.get("threshold"))))
            target = f"FMR {show_value(point.get('target_fmr'))}, distance {show_value(point.get('distance'))}"
            rows.append(("operating point", f"{point.get('name')} ({target})"))
        tables.append(Table("Face match", ("measure", "value"), rows))
    pairs = data.get("pairs")
    if isinstance(pairs, list) and pairs:
        rows = []
        for pair in pairs:
            if not isinstance(pair, Mapping):
                continue
            shown = " ↔ ".join(names.get(str(m), str(m)[:8]) for m in pair.get("media") or [])
            rows.append((shown, show_value(pair.get("confidence"))))
        tables.append(Table("Pairs compared", ("media", "confidence"), rows))
    return tables


def _documents_media(data: Mapping[str, Any]) -> list[Table]:
    tables = []
    fields = data.get("fields")
    if isinstance(fields, Mapping) and fields:
        tables.append(
            Table("Document fields (MRZ)", ("field", "value"), [(k, show_value(v)) for k, v in fields.items()])
        )
    text_fields = data.get("text_fields")
    if isinstance(text_fields, list) and text_fields:
        rows = [
            (str(f.get("field_name", "?")), show_value(f.get("mrz", f.get("visual", f.get("value")))))
            for f in text_fields
            if isinstance(f, Mapping)
        ]
        tables.append(Table("Document fields", ("field", "value"), rows))
    checks = data.get("checks")
    if isinstance(checks, Mapping) and checks:
        rows = [(k, "pass" if v is True else "fail" if v is False else show_value(v)) for k, v in checks.items()]
        tables.append(Table("Document checks", ("check", "result"), rows))
    return tables


#: What each reason of a DOCUMENTS decision means for the operator (plugins/documents, decision.py).
_DOCUMENT_REASONS = {
    "no_mrz": "no machine-readable zone was read on any document photo: look at the document yourself",
    "check_digit_failed": "a check digit of the machine-readable zone does not match its field",
    "invalid_expiry_date": "the expiry date in the machine-readable zone is not a date",
    "expired": "the document expired before today",
}


def _documents_reasons(data: Mapping[str, Any]) -> list[Table]:
    """Why DOCUMENTS decided as it did, first: its reasons are in the analysis' results."""
    reasons = data.get("reasons")
    if not isinstance(reasons, list) or not reasons:
        return []
    rows = [(str(r), _DOCUMENT_REASONS.get(str(r), "–")) for r in reasons]
    return [Table("Why", ("reason", "meaning"), rows)]


def _collection_media(data: Mapping[str, Any]) -> list[Table]:
    matches = data.get("matches")
    if not isinstance(matches, list):
        matches = [data] if data.get("person_id") else []
    rows = [
        (
            str(m.get("person_id", "?")),
            show_value(m.get("alias") or m.get("name") or m.get("person_name")),
            show_value(m.get("confidence")),
        )
        for m in matches
        if isinstance(m, Mapping)
    ]
    return [Table("Matched persons", ("person", "name", "confidence"), rows)] if rows else []


_PER_MEDIA: dict[str, Callable[[Mapping[str, Any]], list[Table]]] = {
    "QUALITY": _quality_media,
    "DOCUMENTS": _documents_media,
    "COLLECTION": _collection_media,
}


def analysis_view(doc: dict[str, Any], media_names: Mapping[str, str]) -> AnalysisView:
    """The tables and images of one analysis document (`wire.analysis_to_wire`)."""
    view = AnalysisView(doc)
    data = doc.get("results_data") or {}
    if doc["type"] == "BIOMETRY":
        view.tables += _biometry(data, media_names)
    elif doc["type"] == "DOCUMENTS":
        view.tables += _documents_reasons(data) + _documents_media(data)
    elif doc["type"] in _PER_MEDIA:
        view.tables += _PER_MEDIA[doc["type"]](data)
    if data:
        view.tables.append(_all_numbers(data))
    for item in doc.get("results_media") or []:
        media_id = str(item.get("source_media_id", ""))
        item_data = item.get("results_data") or {}
        result = MediaResultView(media_names.get(media_id, media_id[:8]), media_id)
        special = _PER_MEDIA.get(doc["type"])
        if special is not None:
            result.tables += special(item_data)
        if item_data:
            result.tables.append(_all_numbers(item_data))
        result.images = [
            Image(image["name"].replace("_", " "), image["original_url"]) for image in item.get("output_images") or []
        ]
        view.media.append(result)
    return view
