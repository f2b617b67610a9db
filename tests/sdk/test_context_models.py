"""`ctx.models(task)`: the store's models of a task, for plugins that bring their own model slot."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from appliance.runtime import ModelStore
from appliance.sdk import AnalysisContext, ModelHandle
from appliance.sdk.testing import vision_service


def test_no_store_means_no_models() -> None:
    assert AnalysisContext({}).models("presentation_attack") == []


def test_models_of_a_task_are_the_active_ones_and_run(default_models_root: Path, tmp_path: Path) -> None:
    ctx = AnalysisContext({}, vision=vision_service(default_models_root))
    assert ctx.models("presentation_attack") == []  # a fresh install has none
    detectors = ctx.models("face_detector")
    assert [m.name for m in detectors] == ["blazeface-full", "blazeface-short"]
    short = detectors[1]
    assert isinstance(short, ModelHandle) and short.task == "face_detector"
    store = ModelStore(default_models_root)
    assert (short.version, short.sha256) == (store.active_version(short.name), store.card(short.name).sha256)
    assert short.params["input"]["size"] == [128, 128]
    outputs = short.run([np.zeros((1, 128, 128, 3), np.float32)])
    assert [o.shape for o in outputs] == [(1, 896, 16), (1, 896, 1)]


def test_a_model_without_an_active_version_is_left_out(default_models_root: Path, tmp_path: Path) -> None:
    root = tmp_path / "models"
    shutil.copytree(default_models_root, root, symlinks=True)
    (root / "blazeface-short" / "active").unlink()
    ctx = AnalysisContext({}, vision=vision_service(root))
    assert [m.name for m in ctx.models("face_detector")] == ["blazeface-full"]
