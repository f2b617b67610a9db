"""ModelRuntime with the real models: lazy, locked, verified loads that follow the active version."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import dlib
import msgspec
import numpy as np
import pytest

from appliance.runtime import (
    LoadedModel,
    ModelCard,
    ModelError,
    ModelFile,
    ModelIntegrityError,
    ModelNotFoundError,
    ModelRuntime,
    ModelStore,
    RuntimeUnavailableError,
)
from appliance_modelstore.files import sha256_file
from tests.support.media_samples import ASTRONAUT_FACE
from tests.support.shared_data import SKIP_REASON, shared_file


def _ssd_anchors(params: dict) -> np.ndarray:
    """Anchor centres from a detector card's params (MediaPipe's SsdAnchorsCalculator, fixed anchor size)."""
    size = params["input"]["size"][0]
    anchors, strides, layer = [], params["anchors"]["strides"], 0
    while layer < len(strides):
        same = layer
        while same < len(strides) and strides[same] == strides[layer]:
            same += 1
        per_cell = params["anchors"]["anchors_per_layer"] * (same - layer)
        grid = size // strides[layer]
        for y in range(grid):
            for x in range(grid):
                anchors += [((x + 0.5) / grid, (y + 0.5) / grid)] * per_cell
        layer = same
    return np.array(anchors, dtype=np.float32)


def _detector_input(model: LoadedModel, image: np.ndarray) -> np.ndarray:
    width, height = model.card.params["input"]["size"]
    low, high = model.card.params["input"]["range"]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA).astype(np.float32)
    return (resized / 255.0 * (high - low) + low)[np.newaxis]


def test_models_load_lazily_once_and_report_their_identity(shared_store: ModelStore) -> None:
    runtime = ModelRuntime(shared_store, threads=1)
    assert runtime.loaded() == []
    model = runtime.get("blazeface-short")
    assert runtime.get("blazeface-short") is model and runtime.loaded() == [model]
    assert (model.name, model.version, model.runtime) == ("blazeface-short", "0.6.0", "litert")
    assert model.sha256 == model.card.sha256 == sha256_file(shared_store.file_path(model.card))[0]
    assert model.load_seconds < 2
    assert runtime.active_versions() == {name: shared_store.active_version(name) for name in shared_store.names()}


def test_concurrent_first_gets_load_one_model(shared_store: ModelStore) -> None:
    runtime = ModelRuntime(shared_store)
    with ThreadPoolExecutor(8) as pool:
        models = list(pool.map(lambda _: runtime.get("facemesh"), range(16)))
    assert len({id(m) for m in models}) == 1


@pytest.mark.parametrize("name", ["blazeface-short", "blazeface-full"])
def test_blazeface_finds_the_astronaut(shared_store: ModelStore, astronaut: np.ndarray, name: str) -> None:
    model = ModelRuntime(shared_store).get(name)
    params = model.card.params
    regressors, scores = model.invoke([_detector_input(model, astronaut)])
    anchors = _ssd_anchors(params)
    assert len(anchors) == params["anchors"]["num_anchors"]
    assert list(regressors.shape) == params["outputs"]["regressors"] == [1, len(anchors), 16]
    assert list(scores.shape) == params["outputs"]["scores"] == [1, len(anchors), 1]
    assert [o.shape for o in model.outputs] == [tuple(regressors.shape), tuple(scores.shape)]
    probability = 1 / (1 + np.exp(-np.clip(scores[0, :, 0], -80, 80)))
    best = int(probability.argmax())
    assert probability[best] > params["decode"]["min_score"]
    raw = regressors[0, best] / params["decode"]["box_scale"]
    centre = (anchors[best] + raw[:2]) * 512  # the astronaut is 512x512, so no letterbox here
    x0, y0, x1, y1 = ASTRONAUT_FACE
    assert x0 < centre[0] < x1 and y0 < centre[1] < y1
    keypoints = (raw[4:].reshape(6, 2) + anchors[best]) * 512
    assert params["decode"]["keypoints"][:2] == ["right_eye", "left_eye"]
    assert keypoints[0, 0] < keypoints[1, 0]  # the subject's right eye is on the image's left


def test_landmark_models_give_their_documented_shapes(shared_store: ModelStore) -> None:
    runtime = ModelRuntime(shared_store)
    for name in ("facemesh", "iris"):
        model = runtime.get(name)
        width, height = model.card.params["input"]["size"]
        outputs = model.invoke([np.zeros((1, height, width, 3), np.float32)])
        assert [list(o.shape) for o in outputs] == list(model.card.params["outputs"].values())


def test_one_interpreter_per_thread(shared_store: ModelStore, astronaut: np.ndarray) -> None:
    model = ModelRuntime(shared_store, threads=2).get("blazeface-short")
    frame = _detector_input(model, astronaut)
    here = model.handle.interpreter()
    assert model.handle.interpreter() is here
    seen: dict[str, object] = {}
    results: dict[str, list[np.ndarray]] = {}
    barrier = threading.Barrier(2)

    def work(tag: str) -> None:
        barrier.wait()
        seen[tag] = model.handle.interpreter()
        for _ in range(20):
            results[tag] = model.invoke([frame])

    threads = [threading.Thread(target=work, args=(tag,)) for tag in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(seen["a"]), id(seen["b"]), id(here)}) == 3
    expected = model.invoke([frame])
    for outputs in results.values():
        for got, want in zip(outputs, expected, strict=True):
            np.testing.assert_array_equal(got, want)


def test_litert_without_xnnpack_and_bad_inputs(shared_store: ModelStore) -> None:
    model = ModelRuntime(shared_store, xnnpack=False).get("iris")
    assert [o.shape for o in model.invoke([np.zeros((1, 64, 64, 3), np.float32)])] == [(1, 213), (1, 15)]
    with pytest.raises(ValueError, match=r"input input_1 has shape \(1, 64, 64, 3\), got \(1, 32, 32, 3\)"):
        model.invoke([np.zeros((1, 32, 32, 3), np.float32)])
    with pytest.raises(ValueError, match="takes 1 inputs, got 2"):
        model.invoke([np.zeros((1, 64, 64, 3), np.float32)] * 2)


def test_dlib_gives_a_128d_descriptor_of_the_astronaut(shared_store: ModelStore, astronaut: np.ndarray) -> None:
    runtime = ModelRuntime(shared_store)
    predictor, embedder = runtime.get("dlib-sp5"), runtime.get("dlib-resnet")
    assert embedder.card.embedding_space == "dlib-resnet-v1"
    shape = predictor.handle.shape(astronaut, dlib.rectangle(*ASTRONAUT_FACE))
    assert shape.num_parts == 5
    points = np.array([(p.x, p.y) for p in shape.parts()])
    assert (points[:, 0] > ASTRONAUT_FACE[0]).all() and (points[:, 0] < ASTRONAUT_FACE[2]).all()
    params = embedder.card.params
    descriptor = embedder.handle.descriptor(astronaut, shape, padding=params["padding"])
    assert descriptor.shape == (params["descriptor_size"],) == (128,) and descriptor.dtype == np.float64
    assert 1.0 < np.linalg.norm(descriptor) < 2.0
    # the mirrored face is the same person: well within dlib's threshold
    mirrored = np.ascontiguousarray(astronaut[:, ::-1])
    x0, y0, x1, y1 = ASTRONAUT_FACE
    mirror_shape = predictor.handle.shape(mirrored, dlib.rectangle(512 - x1, y0, 512 - x0, y1))
    distance = np.linalg.norm(descriptor - embedder.handle.descriptor(mirrored, mirror_shape))
    assert distance < params["same_person_distance"]
    with pytest.raises(ModelError, match="dlib model"):
        embedder.invoke([descriptor])


def test_dlib_objects_are_per_thread(shared_store: ModelStore) -> None:
    predictor = ModelRuntime(shared_store).get("dlib-sp5")
    with ThreadPoolExecutor(1) as pool:
        other = pool.submit(predictor.handle.model).result()
    assert other is not predictor.handle.model() and predictor.handle.model() is predictor.handle.model()


def test_a_switch_of_the_active_version_is_picked_up_without_a_restart(
    store: ModelStore, astronaut: np.ndarray
) -> None:
    runtime = ModelRuntime(store)
    old = runtime.get("blazeface-short")
    card = store.card("blazeface-short")
    store.install(msgspec.structs.replace(card, version="0.6.1"), {card.files[0].name: store.file_path(card)})
    assert runtime.get("blazeface-short") is old  # installed, not active yet
    store.activate("blazeface-short", "0.6.1")
    new = runtime.get("blazeface-short")
    assert (new.version, old.version) == ("0.6.1", "0.6.0") and new is not old
    assert runtime.loaded() == [new]
    frame = _detector_input(new, astronaut)
    for got, want in zip(old.invoke([frame]), new.invoke([frame]), strict=True):  # a task holding `old` finishes
        np.testing.assert_array_equal(got, want)
    store.activate("blazeface-short", "0.6.0")
    assert runtime.get("blazeface-short").version == "0.6.0"


def test_a_tampered_file_is_refused_at_load(store: ModelStore) -> None:
    card = store.card("dlib-sp5")
    path = store.file_path(card)
    data = bytearray(path.read_bytes())
    data[-10] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ModelIntegrityError, match=f"model dlib-sp5 0.3.0: file {path} has sha256 .* the card says"):
        ModelRuntime(store).get("dlib-sp5")


def _install_raw(store: ModelStore, tmp_path: Path, runtime: str, task: str, content: bytes) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(content)
    sha, size = sha256_file(source)
    card = ModelCard(
        name="raw",
        version="1.0.0",
        task=task,  # type: ignore[arg-type]
        runtime=runtime,  # type: ignore[arg-type]
        files=[ModelFile(name="model.bin", sha256=sha, size_bytes=size)],
        source="test",
        license="MIT",
    )
    store.install(card, {"model.bin": source}, activate=True)


def test_a_file_the_runtime_cannot_read_is_a_clear_error(store: ModelStore, tmp_path: Path) -> None:
    _install_raw(store, tmp_path, "litert", "other", b"this is not a flatbuffer" * 10)
    with pytest.raises(ModelError, match="model raw 1.0.0: LiteRT cannot load it"):
        ModelRuntime(store).get("raw")


def test_dlib_runs_only_its_tasks(store: ModelStore, tmp_path: Path) -> None:
    _install_raw(store, tmp_path, "dlib", "face_detector", b"x")
    with pytest.raises(ModelError, match="the dlib runtime runs face_shape_predictor and face_embedding models"):
        ModelRuntime(store).get("raw")


def test_onnx_without_onnxruntime_names_the_extra(
    store: ModelStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _install_raw(store, tmp_path, "onnx", "presentation_attack", b"x")
    monkeypatch.setitem(__import__("sys").modules, "onnxruntime", None)  # as if it were not installed
    with pytest.raises(
        RuntimeUnavailableError, match=r"install the onnx extra \(pip install 'liveness-appliance\[onnx\]'\)"
    ):
        ModelRuntime(store).get("raw")


def test_unknown_model(shared_store: ModelStore) -> None:
    with pytest.raises(ModelNotFoundError, match="model nope is not in the model store"):
        ModelRuntime(shared_store).get("nope")


MINIFAS = shared_file("models/minifas_best_model.onnx")


@pytest.mark.shared_data
@pytest.mark.skipif(MINIFAS is None, reason=SKIP_REASON)
def test_onnx_runs_minifasnet(store: ModelStore) -> None:
    assert MINIFAS is not None
    sha, size = sha256_file(MINIFAS)
    card = ModelCard(
        name="minifasnet",
        version="1.0.0",
        task="presentation_attack",
        runtime="onnx",
        files=[ModelFile(name="model.onnx", sha256=sha, size_bytes=size)],
        source="johnraivenolazo/face-antispoof-onnx models/best/98.20/best_model.onnx",
        license="Apache-2.0",
        params={"input": {"size": [128, 128], "layout": "NCHW", "color": "RGB", "range": [0.0, 1.0]}},
    )
    store.install(card, {"model.onnx": MINIFAS}, activate=True)
    model = ModelRuntime(store, threads=2).get("minifasnet")
    assert model.runtime == "onnx" and model.sha256 == sha
    assert [(i.name, i.shape[1:], i.dtype) for i in model.inputs] == [("input", (3, 128, 128), np.dtype(np.float32))]
    batch = np.random.default_rng(0).random((2, 3, 128, 128), dtype=np.float32)
    (logits,) = model.invoke([batch])
    assert logits.shape == (2, 2) and np.isfinite(logits).all()
    np.testing.assert_allclose(model.handle.run({"input": batch})[0], logits, rtol=1e-5)
