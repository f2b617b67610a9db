"""Embeddings: dlib's ResNet on aligned chips, tagged with their space; distance within one space only."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import numpy as np
import pytest

from appliance.domain.enums import MediaKind
from appliance.runtime import ModelRuntime, ModelStore
from appliance.sdk import MediaInput, calibration_for
from appliance.vision import Embedding, FaceEmbedder, VisionService, distance, embedder_for
from appliance.vision.embedding import five_points, preferred_embedder, similarity_transform
from tests.support.media_samples import jpeg_bytes
from tests.support.recipes import convert_python, load_recipe
from tests.support.shared_data import SKIP_REASON, shared_file

LANDMARKS_IR = shared_file("models/omz_landmarks-regression-retail-0009.xml")


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
    sha256 = "0" * 64

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


ARCFACE_112 = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]


class _FacemeshModel(_FakeModel):
    """A model aligned on five FaceMesh points whose input takes a fixed batch, as MobileFaceNet's does."""

    name = "tiny-facemesh-embedder"

    def __init__(self, *, flip: bool, color: str = "RGB", batch: int = 2, template: list | None = None) -> None:
        super().__init__()
        # card params are read once per model version: each variant is a version of its own
        self.version = f"{int(flip)}.{color}.{len(template or ARCFACE_112)}"
        self.card.params = {
            "alignment": "facemesh",
            "template": template or ARCFACE_112,
            "chip_size": 112,
            "input": {"size": [112, 112], "layout": "NHWC", "color": color, "mean": 0.0, "std": 1.0},
            "flip": flip,
        }
        self.inputs = [SimpleNamespace(shape=(batch, 112, 112, 3))]
        self.batches: list[np.ndarray] = []

    def invoke(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        self.batches.append(inputs[0])
        return [inputs[0].reshape(len(inputs[0]), -1)[:, ::997]]


def test_similarity_transform_recovers_a_rotation_scale_and_shift() -> None:
    points = np.array([[10.0, 20.0], [50.0, 22.0], [30.0, 40.0], [15.0, 60.0], [45.0, 61.0]])
    angle, scale, shift = 0.3, 1.7, np.array([5.0, -8.0])
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ (scale * rotation).T + shift
    matrix = similarity_transform(points, moved)
    assert np.allclose(matrix[:, :2], scale * rotation) and np.allclose(matrix[:, 2], shift)


def test_a_facemesh_alignment_puts_the_eyes_where_the_template_has_them(
    vision: VisionService, astronaut: np.ndarray
) -> None:
    embedder = FaceEmbedder(_FacemeshModel(flip=False), None)
    face = vision.detect(astronaut)[0]
    landmarks = vision.landmarks(astronaut, face)
    chip = embedder.chip(astronaut, face, landmarks)
    assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
    canvas = np.zeros((224, 224, 3), np.uint8)
    canvas[56:168, 56:168] = chip
    (found,) = vision.detect(canvas)
    eyes = found.keypoints[:2] - 56
    assert np.abs(eyes - np.array(ARCFACE_112[:2])).max() < 6  # BlazeFace's eye points on the template's
    with pytest.raises(ValueError, match="aligns on FaceMesh landmarks"):
        embedder.chip(astronaut, face)


def test_flip_embeds_the_chip_and_its_mirror_in_one_batch(vision: VisionService, astronaut: np.ndarray) -> None:
    model = _FacemeshModel(flip=True)
    face = vision.detect(astronaut)[0]
    embedding = FaceEmbedder(model, None).embed(astronaut, face, vision.landmarks(astronaut, face))
    (batch,) = model.batches
    assert batch.shape == (2, 112, 112, 3)
    assert np.array_equal(batch[1], batch[0][:, ::-1])
    rows = batch.reshape(2, -1)[:, ::997]
    assert np.allclose(embedding.vector, (rows[0] + rows[1]) / np.linalg.norm(rows[0] + rows[1]))


def test_without_flip_a_fixed_batch_is_filled_and_only_the_chip_counts(
    vision: VisionService, astronaut: np.ndarray
) -> None:
    model = _FacemeshModel(flip=False, color="BGR")
    face = vision.detect(astronaut)[0]
    landmarks = vision.landmarks(astronaut, face)
    embedder = FaceEmbedder(model, None)
    embedding = embedder.embed(astronaut, face, landmarks)
    (batch,) = model.batches
    chip = embedder.chip(astronaut, face, landmarks)
    assert np.array_equal(batch[0], chip[:, :, ::-1]) and np.array_equal(batch[1], batch[0])  # BGR, filled
    row = batch.reshape(2, -1)[0, ::997]
    assert np.allclose(embedding.vector, row / np.linalg.norm(row))


def test_a_facemesh_model_needs_its_template() -> None:
    model = _FacemeshModel(flip=False, template=[[1.0, 2.0]])
    with pytest.raises(ValueError, match="template of five points"):
        FaceEmbedder(model, None)


OMZ_128 = load_recipe("face_embedding").OMZ_128


@pytest.fixture(scope="module")
def omz_landmarks(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Open Model Zoo's five-point landmarks model, converted and installed as the embedding recipe does."""
    if LANDMARKS_IR is None:
        pytest.skip(SKIP_REASON)
    recipe = load_recipe("face_embedding")
    workdir = tmp_path_factory.mktemp("omz-landmarks")
    onnx = recipe.convert(LANDMARKS_IR, workdir, convert_python())
    store = ModelStore(workdir / "store")
    card = recipe.model_card(recipe.LANDMARKS, onnx, recipe.LANDMARKS.params)
    store.install(card, {recipe.LANDMARKS.file_name: onnx}, activate=True)
    return ModelRuntime(store).get(recipe.LANDMARKS.name)


class _LandmarksAlignedModel(_FakeModel):
    """A model aligned on the five points of a tensor shape predictor, as omz-face-reid-0095 is."""

    name = "tiny-landmarks-embedder"

    def __init__(self, template: list | None = None) -> None:
        super().__init__()
        self.version = f"1.{len(template or OMZ_128)}"
        self.card.params = {
            "alignment": "omz-landmarks-0009",
            "template": template or OMZ_128,
            "chip_size": 128,
            "input": {"size": [128, 128], "layout": "NCHW", "color": "BGR", "mean": 0.0, "std": 1.0},
        }


@pytest.mark.shared_data
def test_a_landmarks_model_alignment_puts_the_eyes_where_the_template_has_them(
    omz_landmarks: Any, vision: VisionService, astronaut: np.ndarray
) -> None:
    embedder = FaceEmbedder(_LandmarksAlignedModel(), omz_landmarks)
    face = vision.detect(astronaut)[0]
    # the model's points, back in the frame, are FaceMesh's: eye on the image's left first, nose tip, mouth corners
    points = embedder.five_points(astronaut, face, None)
    assert np.abs(points - five_points(vision.landmarks(astronaut, face))).max() < 0.05 * face.width
    chip = embedder.chip(astronaut, face)  # no FaceMesh landmarks needed
    assert chip.shape == (128, 128, 3) and chip.dtype == np.uint8
    canvas = np.zeros((256, 256, 3), np.uint8)
    canvas[64:192, 64:192] = chip
    (found,) = vision.detect(canvas)
    eyes = found.keypoints[:2] - 64
    assert np.abs(eyes - np.array(OMZ_128[:2])).max() < 6  # BlazeFace's eye points on the template's


class _TensorAligner:
    """A tensor shape predictor's card (it never runs here)."""

    name = "tiny-shape-predictor"
    version = "1.0"
    sha256 = "0" * 64

    def __init__(self, num_parts: int) -> None:
        params = {"num_parts": num_parts, "roi_scale": 1.15, "input": {"size": [48, 48], "layout": "NCHW"}}
        self.version = f"1.{num_parts}"
        self.card = SimpleNamespace(task="face_shape_predictor", runtime="onnx", params=params)


def test_a_tensor_shape_predictor_alignment_needs_a_template_and_five_points() -> None:
    with pytest.raises(ValueError, match="omz-landmarks-0009 alignment needs a template of five points"):
        FaceEmbedder(_LandmarksAlignedModel(template=[[1.0, 2.0]]), _TensorAligner(5))
    with pytest.raises(ValueError, match="its alignment tiny-shape-predictor@1.68 gives 68 points, not five"):
        FaceEmbedder(_LandmarksAlignedModel(), _TensorAligner(68))


def test_the_pipeline_embeds_with_the_installed_model_of_highest_preference(
    default_models_root: Path, tmp_path: Path, astronaut: np.ndarray
) -> None:
    """A bundle that installs a better embedding model with a preference switches the pipeline to it
    at the next track, and its card's operating points become its space's calibration."""
    shutil.copytree(default_models_root, tmp_path / "models", symlinks=True)
    store = ModelStore(tmp_path / "models")
    dlib = store.card("dlib-resnet")
    points = {"default": {"target_fmr": 1e-3, "distance": 0.58}, "strict": {"target_fmr": 1e-4, "distance": 0.5}}
    preferred = msgspec.structs.replace(
        dlib,
        name="dlib-resnet-preferred",
        embedding_space="dlib-resnet-v1-preferred",
        params={**dlib.params, "preference": 10, "operating_points": points, "nonmatch_distance": 0.9},
    )
    photo = tmp_path / "astronaut.jpg"
    photo.write_bytes(jpeg_bytes(astronaut))
    media = MediaInput(media_id="a", kind=MediaKind.IMAGE, tags=(), path=photo, mime_type="image/jpeg")
    runtime = ModelRuntime(store)
    assert preferred_embedder(runtime) == "dlib-resnet"
    before = VisionService(runtime, cache_dir=None).face_track(media)
    store.install(preferred, {dlib.files[0].name: store.file_path(dlib)}, activate=True)

    assert preferred_embedder(runtime) == "dlib-resnet-preferred"
    after = VisionService(runtime, cache_dir=None).face_track(media)
    assert before.embedding is not None and after.embedding is not None
    assert after.embedding.space == "dlib-resnet-v1-preferred"
    assert after.embedding.model.startswith("dlib-resnet-preferred@")
    assert np.array_equal(after.embedding.vector, before.embedding.vector)  # the same weights
    calibration = calibration_for("dlib-resnet-v1-preferred")
    assert calibration.match_distance == 0.58 and calibration.nonmatch_distance == 0.9
    assert calibration.operating_point("strict").distance == 0.5
    with pytest.raises(ValueError, match="no operating point 'lenient'.*default, strict"):
        calibration.operating_point("lenient")
