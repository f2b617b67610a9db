"""Face embeddings, tagged with the space they live in, and the distance between two of them.

An embedding model is any model whose card has task `face_embedding`; its card's
`embedding_space` names the space its vectors live in, and `distance` refuses to compare vectors
of two spaces: a model change never silently compares across spaces.

The default, dlib's ResNet (`dlib-resnet`), embeds an aligned 150 x 150 chip: dlib's 5-point
shape predictor (the card's `alignment`, default `dlib-sp5`) runs on a square around the detection
box, `dlib.get_face_chip` cuts the chip (card `chip_size` 150, `padding` 0.25), and the ResNet
gives 128 numbers (no jitter). Same person: L2 distance below about 0.6.

A LiteRT or ONNX embedding model runs on the same aligned chip resized to its card's `input.size`,
as float32 `(pixel - input.mean) / input.std` (default 127.5 and 128), in `input.layout` NHWC
(default) or NCHW, L2-normalised unless the card sets `normalize: false`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.ops import metrics
from appliance.vision.detector import FaceDetection
from appliance.vision.models import ModelProvider, card_param, model_ref

__all__ = [
    "DEFAULT_EMBEDDER",
    "Embedding",
    "FaceEmbedder",
    "distance",
    "embedder_for",
]

#: The embedding model used when none is named.
DEFAULT_EMBEDDER = "dlib-resnet"
_DEFAULT_ALIGNER = "dlib-sp5"
_CHIP_SIZE = 150
_CHIP_PADDING = 0.25


@dataclass(frozen=True, slots=True, eq=False)
class Embedding:
    """A face embedding: the vector, the space it lives in, and the model that made it."""

    #: float32 (D,), 128 for dlib's ResNet.
    vector: np.ndarray = field(repr=False)
    #: The card's embedding_space: only embeddings of one space compare.
    space: str
    #: `name@version` of the embedding model.
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {"vector": np.asarray(self.vector, dtype=float).tolist(), "space": self.space, "model": self.model}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Embedding:
        return cls(np.asarray(data["vector"], dtype=np.float32), str(data["space"]), str(data["model"]))


def distance(a: Embedding, b: Embedding) -> float:
    """Euclidean (L2) distance between two embeddings of one space; ValueError across spaces."""
    if a.space != b.space:
        raise ValueError(
            f"cannot compare embeddings of different spaces: {a.space!r} (from {a.model}) "
            f"and {b.space!r} (from {b.model})"
        )
    if a.vector.shape != b.vector.shape:
        raise ValueError(f"embeddings of space {a.space!r} differ in shape: {a.vector.shape} and {b.vector.shape}")
    return float(np.linalg.norm(a.vector.astype(np.float64) - b.vector.astype(np.float64)))


def square_rect(detection: FaceDetection) -> tuple[int, int, int, int]:
    """(left, top, right, bottom): the square of the box's longer side, on the box's centre."""
    cx, cy = detection.center
    half = max(detection.width, detection.height) / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


class FaceEmbedder:
    """Aligns a detected face with a dlib shape predictor and embeds the chip with the model."""

    def __init__(self, model: Any, aligner: Any) -> None:
        self.model = model
        self.aligner = aligner
        #: Every model the embeddings depend on (the embedding model first).
        self.models: tuple[Any, ...] = (model, aligner)
        self.space = str(model.card.embedding_space)
        self.chip_size = int(card_param(model, "chip_size", default=_CHIP_SIZE))
        self.padding = float(card_param(model, "padding", default=_CHIP_PADDING))
        self.jitters = int(card_param(model, "num_jitters", default=0))

    def chip(self, rgb: np.ndarray, detection: FaceDetection) -> np.ndarray:
        """The aligned face crop (chip_size x chip_size RGB uint8) the embedding is computed from."""
        import dlib

        image = np.ascontiguousarray(rgb)
        shape = self.aligner.handle.shape(image, dlib.rectangle(*square_rect(detection)))
        return np.asarray(dlib.get_face_chip(image, shape, size=self.chip_size, padding=self.padding))

    def embed(self, rgb: np.ndarray, detection: FaceDetection) -> Embedding:
        """The embedding of the face `detection` found in the RGB uint8 frame `rgb`."""
        return self.embed_with_chip(rgb, detection)[0]

    @metrics.timed("embed")
    def embed_with_chip(self, rgb: np.ndarray, detection: FaceDetection) -> tuple[Embedding, np.ndarray]:
        chip = self.chip(rgb, detection)
        return Embedding(self.vector(chip), self.space, model_ref(self.model)), chip

    def vector(self, chip: np.ndarray) -> np.ndarray:
        """The embedding vector of an aligned chip (as `chip` makes it)."""
        if self.model.card.runtime == "dlib":
            descriptor = self.model.handle.model().compute_face_descriptor(chip, self.jitters)
            return np.asarray(descriptor, dtype=np.float32)
        size = int(card_param(self.model, "input", "size", default=[self.chip_size])[0])
        resized = chip if size == chip.shape[0] else cv2.resize(chip, (size, size), interpolation=cv2.INTER_AREA)
        mean = np.asarray(card_param(self.model, "input", "mean", default=127.5), dtype=np.float32)
        std = np.asarray(card_param(self.model, "input", "std", default=128.0), dtype=np.float32)
        tensor = (resized.astype(np.float32) - mean) / std
        if str(card_param(self.model, "input", "layout", default="NHWC")).upper() == "NCHW":
            tensor = tensor.transpose(2, 0, 1)
        vector = np.asarray(self.model.invoke([tensor[np.newaxis]])[0], dtype=np.float32).reshape(-1)
        if card_param(self.model, "normalize", default=True):
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return vector


def embedder_for(runtime: ModelProvider, name: str = DEFAULT_EMBEDDER) -> FaceEmbedder:
    """The embedder of model `name` (its active version): a `face_embedding` model, aligned with the
    shape predictor its card's `alignment` names (default dlib-sp5)."""
    model = runtime.get(name)
    if model.card.task != "face_embedding":
        raise ValueError(f"model {model_ref(model)} is a {model.card.task} model, not a face_embedding one")
    aligner = runtime.get(str(card_param(model, "alignment", default=_DEFAULT_ALIGNER)))
    return FaceEmbedder(model, aligner)
