"""The params of the model cards the face pipeline reads, typed (docs/model-store.md, "params of the
default models").

Each Struct declares the keys the pipeline reads and the value it takes when a card leaves one out;
the other keys a card carries (output shapes, how a crop is made, for people) are not read. A card
whose params do not fit (a string where a number belongs) is refused when its model is first used,
with the model and the key named. Plugins' own tasks keep an open mapping (`ModelHandle.params`).
"""

from __future__ import annotations

from typing import TypeVar, cast

import msgspec

from appliance.runtime.errors import ModelError
from appliance.vision.models import LoadedModelLike, model_ref

__all__ = [
    "CropInput",
    "EmbeddingInput",
    "EyeModelParams",
    "FaceEmbeddingParams",
    "FaceLandmarksParams",
    "OperatingPointParams",
    "RoiParams",
    "ShapePredictorParams",
    "params_of",
]

P = TypeVar("P", bound=msgspec.Struct)


class CropInput(msgspec.Struct, kw_only=True, frozen=True):
    """The square crop a landmark model takes: `size` is [width, height] in pixels."""

    size: list[int]


class RoiParams(msgspec.Struct, kw_only=True, frozen=True):
    """How much larger than the face (or eye) box the crop is."""

    scale: float


class FaceLandmarksParams(msgspec.Struct, kw_only=True, frozen=True):
    """FaceMesh (task `face_landmarks`)."""

    input: CropInput = msgspec.field(default_factory=lambda: CropInput(size=[192, 192]))
    roi: RoiParams = msgspec.field(default_factory=lambda: RoiParams(scale=1.5))


class EyeModelParams(msgspec.Struct, kw_only=True, frozen=True):
    """The iris landmark model (task `iris_landmarks`), which gives the eyelid contours."""

    input: CropInput = msgspec.field(default_factory=lambda: CropInput(size=[64, 64]))
    roi: RoiParams = msgspec.field(default_factory=lambda: RoiParams(scale=2.3))


class EmbeddingInput(msgspec.Struct, kw_only=True, frozen=True):
    """How a tensor model (LiteRT or ONNX) takes its image: an embedding model the aligned chip (dlib
    takes the chip as it is), a tensor shape predictor the crop around the face."""

    #: [width, height]; None: the chip's size.
    size: list[int] | None = None
    #: Subtracted from the pixels (0-255), then divided by `std`: one value, or one per channel.
    mean: float | list[float] = 127.5
    std: float | list[float] = 128.0
    #: "NHWC" or "NCHW" (any case).
    layout: str = "NHWC"
    #: The channel order the model takes: "RGB" or "BGR".
    color: str = "RGB"


class OperatingPointParams(msgspec.Struct, kw_only=True, frozen=True):
    """A decision threshold a recipe calibrated: the distance below which two faces match, and the
    false match rate it was chosen for, on identities the recipe's fit never saw."""

    target_fmr: float
    distance: float


class ShapePredictorParams(msgspec.Struct, kw_only=True, frozen=True):
    """A tensor shape predictor (task `face_shape_predictor`, any runtime but dlib's): it takes the
    detection box enlarged `roi_scale` times about its centre, resized to `input.size`, and gives
    `num_parts` points (x, y), each a fraction of that crop's width and height."""

    input: EmbeddingInput
    num_parts: int = 5
    roi_scale: float = 1.0


class FaceEmbeddingParams(msgspec.Struct, kw_only=True, frozen=True):
    """A face embedding model (task `face_embedding`)."""

    #: What aligns the face: `facemesh`, or a shape predictor model of the store. A dlib shape
    #: predictor makes dlib's chip; `facemesh` and a tensor shape predictor of five points (eye
    #: centres, nose tip, mouth corners) make the chip by the similarity transform that best takes
    #: those five points (of FaceMesh, or the model's) onto `template`, the points the model was
    #: trained with.
    alignment: str = "dlib-sp5"
    #: With five points: those points in the chip's pixels, in the order eye on the image's left,
    #: other eye, nose tip, mouth corner on the image's left, other corner.
    template: list[list[float]] | None = None
    #: The side of the aligned chip, in pixels, and the margin dlib leaves around the face in it.
    chip_size: int = 150
    padding: float = 0.25
    #: dlib's jittered descriptors (0: one pass).
    num_jitters: int = 0
    #: A tensor model's output scaled to unit length.
    normalize: bool = True
    #: The embedding of the chip plus that of its mirror image (a model whose input takes two chips
    #: at once runs both for the cost of one).
    flip: bool = False
    input: EmbeddingInput = msgspec.field(default_factory=EmbeddingInput)
    #: Decision thresholds by name (`default`: FMR 1e-3, `strict`: 1e-4), as the recipe measured them.
    operating_points: dict[str, OperatingPointParams] = msgspec.field(default_factory=dict)
    #: A distance typical of two different people (the median impostor distance): confidence 0.05.
    nonmatch_distance: float | None = None
    #: The face pipeline embeds with the installed embedding model of the highest preference.
    preference: int = 0


_PARSED: dict[tuple[str, str, str, bytes, type[msgspec.Struct]], msgspec.Struct] = {}


def params_of(model: LoadedModelLike, kind: type[P]) -> P:
    """The card params of `model` as `kind`, read once per model version, params and kind (a tool
    that calibrates a model writes a second card for the same file); ModelError when the card's
    params do not fit."""
    key = (model.name, model.version, model.sha256, msgspec.json.encode(model.card.params), kind)
    parsed = _PARSED.get(key)
    if parsed is None:
        try:
            parsed = msgspec.convert(model.card.params, kind)
        except msgspec.ValidationError as exc:
            raise ModelError(f"model {model_ref(model)}: its card's params: {exc}") from None
        _PARSED[key] = parsed
    return cast(P, parsed)
