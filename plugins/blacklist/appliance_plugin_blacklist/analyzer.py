"""COLLECTION: is a face of this folder in one of the company's collections (watch lists)?

Media: photos and videos tagged `photo_selfie` or `video_selfie*` (as BIOMETRY takes them, never
`photo_id_back`), at least one. The best face of each media (its face track) is searched in every
collection of the folder's company, or in the collections named by the `collection_ids` param
(a folder of no company, one an ADMIN made, searches every collection unless it names some).

Results, in the Oz shape:
- per media: `face_found`, `reasons`, `matches` (person_id, collection_id, person_image_id,
  distance, confidence; the nearest persons, each once, at least `report_floor` confident), and
  `person_id`, the most similar person at or above the threshold (null if none);
- analysis: `max_confidence`, `person_ids` (every person at or above the threshold), `matches`
  (the best match of each person over all media), `collections` (each one searched: its alias,
  the images searched and those enrolled in another embedding space, which a model change left
  unsearchable until re-enrolled), and `media_without_face`.

Decision: DECLINED when any confidence reaches the site's `collection` threshold (0.85 by
default): the person is on a watch list. Otherwise SUCCESS, except when a media shows several
faces (only its main face is searched: OPERATOR_REQUIRED, a person looks) or no media has a usable
face (DECLINED, `results_data.reason` says so: nobody was cleared). A company that keeps no
collections gets SUCCESS with `results_data.reason` saying that no watch list was searched.

Params: `collection_ids` (null: every collection of the company), `decision_count` (10: nearest
persons looked at per media and collection), `report_floor` (0.5: lower confidences are not reported).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    FaceReason,
    FaceTrack,
    MediaInput,
    MediaKind,
    MediaResult,
    MediaRule,
    Outcome,
    Resolution,
)
from appliance_plugin_blacklist.repository import Collection, CollectionRepository
from appliance_plugin_blacklist.search import CollectionSearch, Match

__all__ = ["DEFAULT_PARAMS", "MEDIA_RULE", "CollectionAnalyzer"]

MEDIA_RULE = MediaRule(
    kinds=frozenset({MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.SHOTS_SET}),
    tag_prefixes=("photo_selfie", "video_selfie"),
    excluded_tags=frozenset({"photo_id_back"}),
    min_count=1,
)
DEFAULT_PARAMS: dict[str, Any] = {"collection_ids": None, "decision_count": 10, "report_floor": 0.5}


@dataclass(frozen=True, slots=True)
class _Probe:
    media: MediaInput
    track: FaceTrack

    @property
    def usable(self) -> bool:
        return self.track.comparable


class CollectionAnalyzer:
    """One per process: keeps each data directory's loaded galleries between analyses."""

    def __init__(self) -> None:
        self._searches: dict[Path, CollectionSearch] = {}
        self._lock = threading.Lock()

    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        services = ctx.services
        with self._lock:
            if services.data_dir not in self._searches:
                self._searches[services.data_dir] = CollectionSearch(
                    CollectionRepository(services.db), services.data_dir
                )
            search = self._searches[services.data_dir]
        collections = _collections(search.repository, request)
        threshold = request.thresholds["collection"]
        count, floor = int(request.params["decision_count"]), float(request.params["report_floor"])
        probes = [_Probe(media, ctx.faces(media)) for media in request.media]
        results: list[MediaResult] = []
        best_by_person: dict[str, Match] = {}
        for probe in probes:
            matches = _search(search, collections, probe, count, floor) if probe.usable else []
            for match in matches:
                if (
                    match.person_id not in best_by_person
                    or match.confidence > best_by_person[match.person_id].confidence
                ):
                    best_by_person[match.person_id] = match
            results.append(_media_result(probe, matches, threshold))
        best = sorted(best_by_person.values(), key=lambda m: -m.confidence)
        data: dict[str, Any] = {
            "max_confidence": round(best[0].confidence, 4) if best else 0.0,
            "person_ids": [m.person_id for m in best if m.confidence >= threshold],
            "matches": [m.to_dict() for m in best],
            "collections": _searched(search.repository, collections, probes),
            "media_without_face": {
                p.media.media_id: [r.value for r in p.track.reasons] for p in probes if not p.usable
            },
        }
        if not collections:
            data["reason"] = "no watch list to search: the folder's company keeps no collections (POST /api/collections)"
        elif not any(p.usable for p in probes):
            data["reason"] = "no media with a usable face: nobody was searched"
        return Outcome(
            resolution=_decide(best, probes, threshold),
            results_data=data,
            results_media=tuple(results),
            model_versions={name: version for p in probes for name, version in p.track.models.items()},
        )


def _collections(repository: CollectionRepository, request: AnalysisRequest) -> list[Collection]:
    """The collections to search: the company's, or those of them the params name."""
    available = repository.collections_of(request.company_id)
    named = request.params.get("collection_ids")
    if named is None:
        return available
    if not isinstance(named, list) or not all(isinstance(i, str) for i in named):
        raise ValueError("the collection_ids param must be a list of collection ids")
    by_id = {c.collection_id: c for c in available}
    unknown = [i for i in named if i not in by_id]
    if unknown:
        raise LookupError(f"collections not found for this folder's company: {', '.join(unknown)}")
    return [by_id[i] for i in named]


def _search(
    search: CollectionSearch, collections: list[Collection], probe: _Probe, count: int, floor: float
) -> list[Match]:
    assert probe.track.embedding is not None
    found = [m for c in collections for m in search.search(c, probe.track.embedding, count) if m.confidence >= floor]
    return sorted(found, key=lambda m: -m.confidence)


def _media_result(probe: _Probe, matches: list[Match], threshold: float) -> MediaResult:
    track = probe.track
    hit = next((m for m in matches if m.confidence >= threshold), None)
    data: dict[str, Any] = {
        "face_found": probe.usable,
        "reasons": [r.value for r in track.reasons],
        "matches": [m.to_dict() for m in matches],
        "person_id": hit.person_id if hit else None,
        "max_confidence": round(matches[0].confidence, 4) if matches else 0.0,
    }
    if track.embedding is not None:
        data["embedding_space"] = track.embedding.space
    return MediaResult(media_id=probe.media.media_id, results_data=data)


def _searched(
    repository: CollectionRepository, collections: list[Collection], probes: list[_Probe]
) -> list[dict[str, Any]]:
    spaces = {p.track.embedding.space for p in probes if p.usable and p.track.embedding is not None}
    summary = []
    for collection in collections:
        counts = repository.embedding_spaces(collection.collection_id)
        searched = sum(n for space, n in counts.items() if space in spaces)
        summary.append(
            {
                "collection_id": collection.collection_id,
                "alias": collection.alias,
                "images_searched": searched,
                "images_in_other_spaces": sum(counts.values()) - searched,
            }
        )
    return summary


def _decide(best: list[Match], probes: list[_Probe], threshold: float) -> Resolution:
    if any(m.confidence >= threshold for m in best) or not any(p.usable for p in probes):
        return Resolution.DECLINED
    if any(FaceReason.MULTIPLE_FACES in p.track.reasons for p in probes if p.usable):
        return Resolution.OPERATOR_REQUIRED
    return Resolution.SUCCESS
