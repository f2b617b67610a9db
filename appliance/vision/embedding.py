"""Face embeddings, tagged with the space they live in, and the distance between two of them.

An embedding model is any model whose card has task `face_embedding`; its card's
`embedding_space` names the space its vectors live in, and `distance` refuses to compare vectors
of two spaces: a model change never silently compares across spaces.

The default, dlib's ResNet (`dlib-resnet`), embeds an aligned 150 x 150 chip: dlib's 5-point
shape predictor (the card's `alignment`, default `dlib-sp5`) runs on a square around the detection
box, `dlib.get_face_chip` cuts the chip (card `chip_size` 150, `padding` 0.25), and the ResNet
gives 128 numbers (no jitter). Same person: L2 distance below about 0.6.

A LiteRT or ONNX embedding model runs on the same aligned chip resized to its card's `input.size`,
as float32 `(pixel - input.mean) / input.std` (default 127.5 and 128), in `input.color` RGB
(default) or BGR, `input.layout` NHWC (default) or NCHW, L2-normalised unless the card sets
`normalize: false`. A model trained on faces aligned by five points (eye centres, nose tip, mouth
corners: ArcFace's and OpenVINO's models) names its `template` and where the five points come from:
`alignment: facemesh`, five FaceMesh points (the track computes FaceMesh on every face anyway, so
this alignment costs one warp), or a tensor shape predictor of the store (`TensorShapePredictor`:
an ONNX or LiteRT `face_shape_predictor` whose card is a `ShapePredictorParams`, such as Open Model
Zoo's landmarks-regression-retail-0009, which its face re-identification model was trained with):
the detection box enlarged by the card's `roi_scale` about its centre is resized to the model's
input and the five points it gives are mapped back to the frame. The chip is then the
least-squares similarity transform of the five points onto the template. With `flip`, the chip
and its mirror image are embedded and summed, in one call when the model's input takes two.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from appliance.ops import metrics
from appliance.runtime import Task
from appliance.vision.calibration import register_card_calibration
from appliance.vision.detector import FaceDetection
from appliance.vision.landmarks import FaceLandmarks
from appliance.vision.models import ModelProvider, model_ref
from appliance.vision.params import EmbeddingInput, FaceEmbeddingParams, ShapePredictorParams, params_of

__all__ = [
    "DEFAULT_EMBEDDER",
    "FACEMESH_ALIGNMENT",
    "Embedding",
    "FaceEmbedder",
    "TensorShapePredictor",
    "distance",
    "embedder_for",
    "five_points",
    "preferred_embedder",
    "similarity_transform",
]

#: The embedding model used when none is named and the store prefers none (`preferred_embedder`).
DEFAULT_EMBEDDER = "dlib-resnet"
#: The card's `alignment` of a model aligned on five FaceMesh points.
FACEMESH_ALIGNMENT = "facemesh"
# FaceMesh indices: the contour of the eye on the image's left, of the other eye, the nose tip and
# the mouth corners (image's left, then right).
_EYE_LEFT_OF_IMAGE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
_EYE_RIGHT_OF_IMAGE = (362, 382, 381, 380, 374, 373, 390, 249, 263, 466, 388, 387, 386, 385, 384, 398)
_NOSE_TIP = 4
_MOUTH_CORNERS = (61, 291)


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


def five_points(landmarks: FaceLandmarks) -> np.ndarray:
    """(5, 2) float64: the centres of the two eye contours, the nose tip and the mouth corners, in
    the order of a five-point template (the eye on the image's left first)."""
    points = np.asarray(landmarks.points[:, :2], dtype=np.float64)
    return np.stack(
        [
            points[list(_EYE_LEFT_OF_IMAGE)].mean(axis=0),
            points[list(_EYE_RIGHT_OF_IMAGE)].mean(axis=0),
            points[_NOSE_TIP],
            points[_MOUTH_CORNERS[0]],
            points[_MOUTH_CORNERS[1]],
        ]
    )


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the rotation, uniform scale and shift taking `source` points closest to
    `target` points in the least-squares sense (Umeyama's method); every point counts."""
    source, target = np.asarray(source, np.float64), np.asarray(target, np.float64)
    source_mean, target_mean = source.mean(axis=0), target.mean(axis=0)
    centred_source, centred_target = source - source_mean, target - target_mean
    u, singular, vt = np.linalg.svd(centred_target.T @ centred_source / len(source))
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0  # a reflection is no similarity
    rotation = u @ np.diag(sign) @ vt
    scale = float((singular * sign).sum()) / float((centred_source**2).sum() / len(source))
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = target_mean - scale * rotation @ source_mean
    return matrix


def _tensor_batch(images: list[np.ndarray], given: EmbeddingInput) -> np.ndarray:
    """RGB uint8 images of one size as a tensor model takes them: in `given.color`, float32
    `(pixel - mean) / std`, in `given.layout`."""
    if given.color.upper() == "BGR":
        images = [image[:, :, ::-1] for image in images]
    mean = np.asarray(given.mean, dtype=np.float32)
    std = np.asarray(given.std, dtype=np.float32)
    batch = (np.stack(images).astype(np.float32) - mean) / std
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2) if given.layout.upper() == "NCHW" else batch)


class TensorShapePredictor:
    """A tensor (ONNX, LiteRT) `face_shape_predictor`: points of the face in the detection box
    enlarged by its card's `roi_scale` (`ShapePredictorParams`)."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.params = params_of(model, ShapePredictorParams)
        size = self.params.input.size
        if size is None or len(size) != 2:
            raise ValueError(f"model {model_ref(model)}: a tensor shape predictor's card needs its input.size")
        #: (width, height) of the model's input.
        self.size = (size[0], size[1])

    def roi(self, detection: FaceDetection) -> tuple[int, int, int, int]:
        """(left, top, width, height): the box enlarged `roi_scale` times about its centre, in whole pixels."""
        cx, cy = detection.center
        width = max(1, round(detection.width * self.params.roi_scale))
        height = max(1, round(detection.height * self.params.roi_scale))
        return round(cx - width / 2), round(cy - height / 2), width, height

    def model_input(self, rgb: np.ndarray, detection: FaceDetection) -> np.ndarray:
        """What the model is given for the face `detection` of the RGB uint8 frame `rgb`: the ROI
        (black where it leaves the frame) resized to the model's input."""
        left, top, width, height = self.roi(detection)
        shift = np.array([[1.0, 0.0, -left], [0.0, 1.0, -top]])
        crop = cv2.warpAffine(rgb, shift, (width, height), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        resized = cv2.resize(crop, self.size, interpolation=cv2.INTER_AREA)
        return _tensor_batch([resized], self.params.input)

    def points(self, rgb: np.ndarray, detection: FaceDetection) -> np.ndarray:
        """(num_parts, 2) float64: the model's points of the face `detection`, in the frame's pixels."""
        left, top, width, height = self.roi(detection)
        output = self.model.invoke([self.model_input(rgb, detection)])[0]
        fractions = np.asarray(output, dtype=np.float64).reshape(self.params.num_parts, 2)
        return fractions * (width, height) + (left, top)


def square_rect(detection: FaceDetection) -> tuple[int, int, int, int]:
    """(left, top, right, bottom): the square of the box's longer side, on the box's centre."""
    cx, cy = detection.center
    half = max(detection.width, detection.height) / 2
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


class FaceEmbedder:
    """Aligns a detected face (a dlib shape predictor, or five points of FaceMesh or of a tensor
    shape predictor) and embeds the chip with the model."""

    def __init__(self, model: Any, aligner: Any | None) -> None:
        self.model = model
        self.aligner = aligner
        #: Every model the embeddings depend on (the embedding model first).
        self.models: tuple[Any, ...] = (model,) if aligner is None else (model, aligner)
        self.space = str(model.card.embedding_space)
        self.params = params_of(model, FaceEmbeddingParams)
        #: The aligner when it is a tensor model (five points onto the template), else None.
        self.shape_predictor = (
            None if aligner is None or aligner.card.runtime == "dlib" else TensorShapePredictor(aligner)
        )
        if self.params.alignment != FACEMESH_ALIGNMENT and aligner is None:
            raise ValueError(f"model {model_ref(model)}: its alignment {self.params.alignment!r} needs its model")
        if self.params.alignment == FACEMESH_ALIGNMENT or self.shape_predictor is not None:
            if self.params.template is None or np.shape(self.params.template) != (5, 2):
                raise ValueError(
                    f"model {model_ref(model)}: its {self.params.alignment} alignment needs a template of five points"
                )
        if self.shape_predictor is not None and self.shape_predictor.params.num_parts != 5:
            raise ValueError(
                f"model {model_ref(model)}: its alignment {model_ref(aligner)} gives "
                f"{self.shape_predictor.params.num_parts} points, not five"
            )

    def chip(self, rgb: np.ndarray, detection: FaceDetection, landmarks: FaceLandmarks | None = None) -> np.ndarray:
        """The aligned face crop (chip_size x chip_size RGB uint8) the embedding is computed from;
        a facemesh alignment needs the face's `landmarks`."""
        size = self.params.chip_size
        if self.params.alignment == FACEMESH_ALIGNMENT or self.shape_predictor is not None:
            matrix = similarity_transform(self.five_points(rgb, detection, landmarks), np.asarray(self.params.template))
            return cv2.warpAffine(rgb, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        import dlib

        image = np.ascontiguousarray(rgb)
        assert self.aligner is not None
        shape = self.aligner.handle.shape(image, dlib.rectangle(*square_rect(detection)))
        return np.asarray(dlib.get_face_chip(image, shape, size=size, padding=self.params.padding))

    def five_points(self, rgb: np.ndarray, detection: FaceDetection, landmarks: FaceLandmarks | None) -> np.ndarray:
        """(5, 2) float64, in the frame's pixels: the points a five-point alignment takes onto the template."""
        if self.shape_predictor is not None:
            return self.shape_predictor.points(rgb, detection)
        if landmarks is None:
            raise ValueError(f"model {model_ref(self.model)} aligns on FaceMesh landmarks: pass them")
        return five_points(landmarks)

    def embed(self, rgb: np.ndarray, detection: FaceDetection, landmarks: FaceLandmarks | None = None) -> Embedding:
        """The embedding of the face `detection` (with its FaceMesh `landmarks`) in the RGB uint8 frame `rgb`."""
        return self.embed_with_chip(rgb, detection, landmarks)[0]

    @metrics.timed("embed")
    def embed_with_chip(
        self, rgb: np.ndarray, detection: FaceDetection, landmarks: FaceLandmarks | None = None
    ) -> tuple[Embedding, np.ndarray]:
        chip = self.chip(rgb, detection, landmarks)
        return Embedding(self.vector(chip), self.space, model_ref(self.model)), chip

    def vector(self, chip: np.ndarray) -> np.ndarray:
        """The embedding vector of an aligned chip (as `chip` makes it)."""
        if self.model.card.runtime == "dlib":
            descriptor = self.model.handle.model().compute_face_descriptor(chip, self.params.num_jitters)
            return np.asarray(descriptor, dtype=np.float32)
        batch = self.model_input(chip)
        output = np.asarray(self.model.invoke([batch])[0], dtype=np.float32).reshape(len(batch), -1)
        vector = output[: 2 if self.params.flip else 1].sum(axis=0)
        if self.params.normalize:
            vector = vector / max(float(np.linalg.norm(vector)), 1e-12)
        return vector

    def model_input(self, chip: np.ndarray) -> np.ndarray:
        """What a tensor model is given for an aligned chip: the chip (and its mirror image, with
        `flip`) resized and scaled as the card says; a model whose input takes a fixed batch gets
        it filled up with copies of the last chip."""
        given = self.params.input
        size = given.size[0] if given.size else self.params.chip_size
        resized = chip if size == chip.shape[0] else cv2.resize(chip, (size, size), interpolation=cv2.INTER_AREA)
        images = [resized, resized[:, ::-1]] if self.params.flip else [resized]
        inputs = getattr(self.model, "inputs", None)
        fixed = inputs[0].shape[0] if inputs else None
        if isinstance(fixed, int) and fixed > len(images):
            images += [images[-1]] * (fixed - len(images))
        return _tensor_batch(images, given)


def preferred_embedder(runtime: ModelProvider) -> str:
    """The embedding model the face pipeline uses: of the store's active `face_embedding` models,
    the one whose card's `preference` is highest (a vendor's bundle sets it on the model it ships
    as the best; dlib's card has none, 0), by name among equals; DEFAULT_EMBEDDER when the store
    has none. Reads cards only (cached per version), so it costs a few readlinks a call."""
    ranked = []
    for name, version in runtime.active_versions().items():
        card = runtime.card(name, version)
        if card.task == Task.FACE_EMBEDDING:
            preference = card.params.get("preference", 0)
            ranked.append((-(preference if isinstance(preference, int) else 0), name))
    return min(ranked)[1] if ranked else DEFAULT_EMBEDDER


def embedder_for(runtime: ModelProvider, name: str = DEFAULT_EMBEDDER) -> FaceEmbedder:
    """The embedder of model `name` (its active version): a `face_embedding` model, aligned as its
    card's `alignment` says (a shape predictor of the store, default dlib-sp5, or `facemesh`); a
    five-point alignment needs the card's five-point `template` (ValueError otherwise). The
    operating points its card carries become its space's calibration."""
    model = runtime.get(name)
    if model.card.task != Task.FACE_EMBEDDING:
        raise ValueError(f"model {model_ref(model)} is a {model.card.task} model, not a face_embedding one")
    params = params_of(model, FaceEmbeddingParams)
    aligner = None if params.alignment == FACEMESH_ALIGNMENT else runtime.get(params.alignment)
    register_card_calibration(str(model.card.embedding_space), params)
    return FaceEmbedder(model, aligner)
