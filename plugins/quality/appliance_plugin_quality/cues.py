"""A cue: one measurement of a media that speaks for or against a presentation attack.

Every cue is a number (`value`) with a stated meaning and its raw numbers for the result; a cue
the media cannot give (a photo has no motion, a tight face crop no surroundings) is absent, never
a made-up neutral value. The fusion (`fusion.py`) turns the cues of one media into one decision;
docs/liveness.md lists every cue, what its value means and what it can and cannot see.

Cue names are the fusion model's feature names, so they are stable: `pad:<model name>` for each
PAD model of the store, then the names in `CueName`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

__all__ = ["ATTACK_ABOVE", "PAD_PREFIX", "Cue", "CueName", "attack_above", "pad_cue_name"]

#: The name of a PAD model's cue is this prefix and the model's name.
PAD_PREFIX = "pad:"


class CueName(StrEnum):
    """The model-free cues (the PAD models' cues are named `pad:<model>`)."""

    #: log10 of the strongest high-frequency peak of the face's spectrum over its ring's median.
    SPECTRAL = "spectral"
    #: Share of the face's pixels at or above 250: a mirror-like reflection of a print or screen.
    GLARE = "glare"
    #: Median local standard deviation of the face (grey levels): washed-out, flat surfaces.
    FLATNESS = "flatness"
    #: log10 of the variance of the Laplacian of the face at 112 px: a recapture is softer.
    BLUR = "blur"
    #: Colourfulness of the face (Hasler and Suesstrunk): screens and prints narrow the gamut.
    GAMUT = "gamut"
    #: Mean blue-difference chroma of the face minus its neutral value: a screen's cold white point.
    COLOUR_CAST = "colour_cast"
    #: Mean entropy of the face's LBP codes in the chroma channels of YCbCr and HSV.
    COLOUR_TEXTURE = "colour_texture"
    #: Length of straight edges around (not on) the face over its side: a bezel, a paper's edge.
    BEZEL = "bezel"
    #: log10 of the residual of one homography over the face's landmarks between frames.
    PLANARITY = "planarity"
    #: How much eyes and mouth move relative to the face (1 = a live face's least).
    MICRO_MOTION = "micro_motion"


#: Which way each image cue points to an attack: True when a higher value does (the tables of
#: docs/liveness.md). The video cues are not here: the fusion adds them as fixed terms.
ATTACK_ABOVE: dict[str, bool] = {
    CueName.SPECTRAL: True,  # moire, halftone
    CueName.GLARE: True,  # a mirror-like reflection
    CueName.FLATNESS: False,  # washed out
    CueName.BLUR: False,  # softer
    CueName.GAMUT: False,  # fewer colours
    CueName.COLOUR_CAST: True,  # colder
    CueName.COLOUR_TEXTURE: False,  # smoother chroma
    CueName.BEZEL: True,  # more straight edges around the face
}


def pad_cue_name(model_name: str) -> str:
    return f"{PAD_PREFIX}{model_name}"


def attack_above(name: str) -> bool | None:
    """True when a higher value of cue `name` points to an attack, False when a lower one does, None
    for a cue with no fixed side (the video cues). A PAD model's cue is its attack log-odds."""
    return True if name.startswith(PAD_PREFIX) else ATTACK_ABOVE.get(name)


@dataclass(slots=True)
class Cue:
    """One cue of one media."""

    name: str
    value: float
    raw: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not math.isfinite(self.value):
            raise ValueError(f"cue {self.name}: value {self.value} is not a finite number")

    def to_dict(self) -> dict[str, Any]:
        return {"value": round(self.value, 5), **{k: round(float(v), 5) for k, v in self.raw.items()}}
