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
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["CALIBRATIONS", "Calibration", "calibration_for"]

_AT_THRESHOLD = 0.85
_AT_NONMATCH = 0.05


@dataclass(frozen=True, slots=True)
class Calibration:
    match_distance: float
    nonmatch_distance: float

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
CALIBRATIONS: dict[str, Calibration] = {
    "dlib-resnet-v1": Calibration(match_distance=0.60, nonmatch_distance=0.87),
}


def calibration_for(space: str) -> Calibration:
    try:
        return CALIBRATIONS[space]
    except KeyError:
        raise ValueError(f"no calibration for embedding space {space!r}") from None
