"""From embedding distance to a match `confidence`: a documented, monotone mapping per embedding space.

    confidence(d) = 1 / (1 + exp((d - midpoint) / scale))

It falls as the distance grows, strictly, so a threshold on confidence is a threshold on
distance. Every analysis that compares faces (BIOMETRY 1:1, COLLECTION 1:N) reports this
confidence, so that one site threshold means the same in both. Each embedding space has its own
two anchors, measured on real labelled faces (../shared/data/faces, 135 genuine and 1518 impostor
pairs; `bench/biometry_eval.py` prints them):

- `match_distance`: the distance that maps to the Oz default threshold 0.85. For dlib's ResNet
  it is 0.60, the distance the network was trained to separate at; on the labelled faces no
  impostor pair comes closer than 0.64 and 99 % of genuine pairs are closer (FMR 0, FNMR 0.7 %).
- `nonmatch_distance`: a distance typical of different people (the median impostor distance,
  0.87 for dlib), which maps to 0.05.

Raising a site threshold above 0.85 asks for closer faces (fewer false matches, more false
non-matches); lowering it, the reverse.

Operating points: the distances a recipe calibrated for a target false match rate, on identities
its fit never saw: `default` (FMR 1e-3), which is the `match_distance`, and `strict` (FMR 1e-4).
An embedding model's card carries them (`params.operating_points`, `params.nonmatch_distance`)
and `register_card_calibration` makes them its space's calibration when the model is first used;
dlib's ResNet, whose card predates them, has its figures here.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass

from appliance.vision.params import FaceEmbeddingParams

__all__ = [
    "CALIBRATIONS",
    "DEFAULT_OPERATING_POINT",
    "OPERATING_POINTS",
    "STRICT_OPERATING_POINT",
    "Calibration",
    "OperatingPoint",
    "calibration_for",
    "register_card_calibration",
]

#: The operating point a decision uses unless a company or a request names another.
DEFAULT_OPERATING_POINT = "default"
STRICT_OPERATING_POINT = "strict"
OPERATING_POINTS = (DEFAULT_OPERATING_POINT, STRICT_OPERATING_POINT)

_AT_THRESHOLD = 0.85
_AT_NONMATCH = 0.05


@dataclass(frozen=True, slots=True)
class OperatingPoint:
    """Faces match below `distance`; chosen for a false match rate of `target_fmr`."""

    name: str
    target_fmr: float
    distance: float

    def to_dict(self) -> dict[str, float | str]:
        return {"name": self.name, "target_fmr": self.target_fmr, "distance": self.distance}


@dataclass(frozen=True, slots=True)
class Calibration:
    match_distance: float
    nonmatch_distance: float
    #: The space's calibrated operating points (see the module's docstring).
    operating_points: tuple[OperatingPoint, ...] = ()

    def operating_point(self, name: str) -> OperatingPoint:
        """The operating point `name`; ValueError naming the ones there are."""
        for point in self.operating_points:
            if point.name == name:
                return point
        known = ", ".join(p.name for p in self.operating_points) or "none"
        raise ValueError(f"no operating point {name!r} for this embedding space (it has: {known})")

    @property
    def scale(self) -> float:
        logit_gap = math.log(1 / _AT_NONMATCH - 1) - math.log(1 / _AT_THRESHOLD - 1)
        return (self.nonmatch_distance - self.match_distance) / logit_gap

    @property
    def midpoint(self) -> float:
        return self.match_distance - self.scale * math.log(1 / _AT_THRESHOLD - 1)

    def confidence(self, distance: float) -> float:
        """Similarity in [0, 1]: 1 for identical embeddings, 0.85 at `match_distance`."""
        z = (distance - self.midpoint) / self.scale
        return 1.0 / (1.0 + math.exp(min(z, 700.0)))

    def distance_at(self, confidence: float) -> float:
        """The distance whose confidence is `confidence` (in (0, 1)): the inverse of `confidence`,
        e.g. the largest distance a search must look at to find every match above a threshold."""
        if not 0.0 < confidence < 1.0:
            raise ValueError(f"a confidence strictly between 0 and 1 has a distance, not {confidence}")
        return self.midpoint + self.scale * math.log(1 / confidence - 1)


#: Per embedding space (`Embedding.space`); embeddings of different spaces are never compared.
#: dlib's strict point is its distance at FMR 1e-4 on the shared faces, identities split
#: (bench/biometry_eval.py); its default stays the 0.60 it was trained to separate at.
CALIBRATIONS: dict[str, Calibration] = {
    "dlib-resnet-v1": Calibration(
        match_distance=0.60,
        nonmatch_distance=0.87,
        operating_points=(
            OperatingPoint(DEFAULT_OPERATING_POINT, 1e-3, 0.60),
            OperatingPoint(STRICT_OPERATING_POINT, 1e-4, 0.53),
        ),
    ),
}
_REGISTER = threading.Lock()


def calibration_for(space: str) -> Calibration:
    try:
        return CALIBRATIONS[space]
    except KeyError:
        raise ValueError(f"no calibration for embedding space {space!r}") from None


def register_card_calibration(space: str, params: FaceEmbeddingParams) -> Calibration | None:
    """The calibration an embedding model's card carries (its `default` operating point and
    `nonmatch_distance`), made the one of `space`; None, changing nothing, when the card has none."""
    points = params.operating_points
    if DEFAULT_OPERATING_POINT not in points or params.nonmatch_distance is None:
        return None
    calibration = Calibration(
        match_distance=points[DEFAULT_OPERATING_POINT].distance,
        nonmatch_distance=params.nonmatch_distance,
        operating_points=tuple(
            OperatingPoint(name, point.target_fmr, point.distance) for name, point in sorted(points.items())
        ),
    )
    if CALIBRATIONS.get(space) != calibration:  # once per model version, not at every track
        with _REGISTER:
            CALIBRATIONS[space] = calibration
    return calibration
