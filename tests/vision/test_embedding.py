"""Embeddings: dlib's ResNet on aligned chips, tagged with their space; distance within one space only."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from appliance.runtime import ModelRuntime
from appliance.vision import Embedding, FaceEmbedder, VisionService, distance, embedder_for


def test_the_astronaut_is_close_to_her_mirror_image(vision: VisionService, astronaut: np.ndarray) -> None:
    embedder = vision.embedder()
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    original = embedder.embed(astronaut, vision.detect(astronaut)[0])
    mirror = embedder.embed(mirrored, vision.detect(mirrored)[0])

    assert original.vector.shape == (128,) and original.vector.dtype == np.float32
    assert original.space == "dlib-resnet-v1"
    assert original.model == "dlib-resnet@0.3.0"
    assert 0.0 < distance(original, mirror) < 0.6
    assert distance(original, original) == 0.0


def test_the_chip_is_the_aligned_face(vision: VisionService, astronaut: np.ndarray) -> None:
    chip = vision.embedder().chip(astronaut, vision.detect(astronaut)[0])
    assert chip.shape == (150, 150, 3) and chip.dtype == np.uint8
    canvas = np.full((300, 300, 3), 128, np.uint8)
    canvas[75:225, 75:225] = chip
    (face,) = vision.detect(canvas)  # still a face once cut out, eyes level
    assert face.width > 60
    (right_eye, left_eye) = face.keypoints[:2]
    assert abs(left_eye[1] - right_eye[1]) < 0.05 * face.width


def test_distance_refuses_two_spaces() -> None:
    a = Embedding(np.zeros(128, np.float32), "dlib-resnet-v1", "dlib-resnet@0.3.0")
    b = Embedding(np.zeros(128, np.float32), "other-space-v2", "other@2.0")
    with pytest.raises(
        ValueError, match=r"'dlib-resnet-v1' \(from dlib-resnet@0.3.0\) and 'other-space-v2' \(from other@2.0\)"
    ):
        distance(a, b)


def test_an_embedding_round_trips_through_a_dict() -> None:
    vector = np.random.default_rng(1).normal(size=128).astype(np.float32)
    embedding = Embedding(vector, "dlib-resnet-v1", "dlib-resnet@0.3.0")
    back = Embedding.from_dict(embedding.to_dict())
    assert np.array_equal(back.vector, vector) and back.vector.dtype == np.float32
    assert (back.space, back.model) == (embedding.space, embedding.model)


def test_only_a_face_embedding_model_embeds(runtime: ModelRuntime) -> None:
    with pytest.raises(ValueError, match="facemesh@.* is a face_landmarks model"):
        embedder_for(runtime, "facemesh")


class _FakeModel:
    """An ONNX-like embedding model: its output is the mean of each input channel, tiled."""

    name = "tiny-embedder"
    version = "1.0"

    def __init__(self) -> None:
        params = {"input": {"size": [112, 112], "layout": "NCHW", "mean": 127.5, "std": 127.5}, "normalize": True}
        self.card = SimpleNamespace(task="face_embedding", runtime="onnx", embedding_space="tiny-v1", params=params)
        self.shapes: list[tuple[int, ...]] = []

    def invoke(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.shapes.append(inputs[0].shape)
        return [np.tile(inputs[0].mean(axis=(2, 3)), 4)]


def test_any_embedding_model_by_card_runs_on_the_aligned_chip(
    runtime: ModelRuntime, vision: VisionService, astronaut: np.ndarray
) -> None:
    model = _FakeModel()
    embedder = FaceEmbedder(model, runtime.get("dlib-sp5"))
    embedding = embedder.embed(astronaut, vision.detect(astronaut)[0])

    assert model.shapes == [(1, 3, 112, 112)]
    assert embedding.space == "tiny-v1" and embedding.model == "tiny-embedder@1.0"
    assert embedding.vector.shape == (12,) and np.linalg.norm(embedding.vector) == pytest.approx(1.0)
