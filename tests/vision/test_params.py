"""The card params of the face pipeline's models are typed: the default cards read as their Structs,
a card that leaves a key out gets the pipeline's value, and a card whose params do not fit is
refused with the model named."""

from __future__ import annotations

import shutil
from pathlib import Path

import msgspec
import pytest

from appliance.runtime import ModelError, ModelRuntime, ModelStore
from appliance.vision.params import EyeModelParams, FaceEmbeddingParams, FaceLandmarksParams, params_of


def test_the_default_cards_read_as_their_params(runtime: ModelRuntime) -> None:
    landmarks = params_of(runtime.get("facemesh"), FaceLandmarksParams)
    eyes = params_of(runtime.get("iris"), EyeModelParams)
    embedding = params_of(runtime.get("dlib-resnet"), FaceEmbeddingParams)

    assert (landmarks.input.size, landmarks.roi.scale) == ([192, 192], 1.5)
    assert (eyes.input.size, eyes.roi.scale) == ([64, 64], 2.3)
    assert (embedding.alignment, embedding.chip_size, embedding.padding, embedding.num_jitters) == (
        "dlib-sp5",
        150,
        0.25,
        0,
    )


def _store_with_params(default_models_root: Path, tmp_path: Path, name: str, params: dict[str, object]) -> Path:
    """A copy of the default store in which `name`'s active version carries `params` (a new version)."""
    root = tmp_path / "models"
    shutil.copytree(default_models_root, root, symlinks=True)
    store = ModelStore(root)
    card = store.card(name)
    changed = msgspec.structs.replace(card, version=f"{card.version}.post99", params=params)
    store.install(changed, {f.name: store.file_path(card, i) for i, f in enumerate(card.files)}, activate=True)
    return root


def test_a_card_that_leaves_keys_out_gets_the_pipelines_values(default_models_root: Path, tmp_path: Path) -> None:
    root = _store_with_params(default_models_root, tmp_path, "facemesh", {"num_landmarks": 468})

    params = params_of(ModelRuntime(ModelStore(root)).get("facemesh"), FaceLandmarksParams)

    assert params == FaceLandmarksParams()


def test_params_that_do_not_fit_are_refused_with_the_model_named(default_models_root: Path, tmp_path: Path) -> None:
    root = _store_with_params(default_models_root, tmp_path, "iris", {"roi": {"scale": "wide"}})
    model = ModelRuntime(ModelStore(root)).get("iris")

    with pytest.raises(ModelError, match=r"model iris@0\.6\.0\.post99: its card's params: Expected `float`"):
        params_of(model, EyeModelParams)
