"""1:N search of one face in collections: the nearest enrolled persons with their calibrated confidence.

The confidence is the one BIOMETRY reports for a pair (`appliance.sdk.calibration_for`), so the
site's `collection` threshold means what its `biometry` threshold means: 0.85 is the distance
dlib's network was trained to separate people at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.sdk import Embedding, calibration_for
from appliance_plugin_blacklist.index import APPROXIMATE_FROM, GalleryFiles
from appliance_plugin_blacklist.repository import Collection, CollectionRepository

__all__ = ["CollectionSearch", "Match", "index_root"]


def index_root(data_dir: Path) -> Path:
    """Where the galleries' search files live in the plugin's data directory."""
    return data_dir / "index"


@dataclass(frozen=True, slots=True)
class Match:
    collection_id: str
    person_id: str
    person_image_id: str
    distance: float
    confidence: float

    def to_dict(self) -> dict[str, object]:
        return {
            "collection_id": self.collection_id,
            "person_id": self.person_id,
            "person_image_id": self.person_image_id,
            "distance": round(self.distance, 4),
            "confidence": round(self.confidence, 4),
        }


class CollectionSearch:
    """Searches collections through their galleries, loaded once per process and version."""

    def __init__(self, repository: CollectionRepository, data_dir: Path, approximate_from: int = APPROXIMATE_FROM):
        self.repository = repository
        self.galleries = GalleryFiles(index_root(data_dir), approximate_from)

    def search(self, collection: Collection, embedding: Embedding, count: int) -> list[Match]:
        """The persons of `collection` nearest to `embedding` (at most `count`; each person once, by
        its nearest image), most similar first. Only images enrolled in the embedding's space count."""
        collection_id, space = collection.collection_id, embedding.space
        calibration = calibration_for(space)
        gallery = self.galleries.gallery(
            collection_id,
            space,
            collection.version,
            rows=lambda: self.repository.gallery_rows(collection_id, space),
            current_version=lambda: self.repository.version(collection_id),
        )
        neighbours = gallery.search(np.asarray(embedding.vector, np.float32), count)
        hits = self.repository.hits([n.key for n in neighbours])  # rows deleted meanwhile are dropped
        matches: dict[str, Match] = {}
        for neighbour in neighbours:
            hit = hits.get(neighbour.key)
            if hit is None or hit.person_id in matches:
                continue
            matches[hit.person_id] = Match(
                collection_id,
                hit.person_id,
                hit.person_image_id,
                neighbour.distance,
                calibration.confidence(neighbour.distance),
            )
        return list(matches.values())
