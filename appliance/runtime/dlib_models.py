"""The dlib runtime (`dlib-bin`): shape predictors and the face ResNet, one dlib object per thread.

The card's task chooses the dlib class: face_shape_predictor -> `dlib.shape_predictor`,
face_embedding -> `dlib.face_recognition_model_v1`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from appliance.runtime.errors import ModelError
from appliance.runtime.tensors import TensorInfo

__all__ = ["DlibModel"]


class DlibModel:
    runtime = "dlib"

    def __init__(self, path: Path, *, task: str, label: str = "") -> None:
        import dlib

        self.path = path
        self.task = task
        self.label = label or path.name
        self.inputs: list[TensorInfo] = []  # dlib models take images and shapes, not tensors
        self.outputs: list[TensorInfo] = []
        factories = {"face_shape_predictor": dlib.shape_predictor, "face_embedding": dlib.face_recognition_model_v1}
        if task not in factories:
            raise ModelError(f"model {self.label}: the dlib runtime runs {' and '.join(factories)} models, not {task}")
        self._factory = factories[task]
        self._local = threading.local()
        self.model()  # a broken file fails here, at load

    def model(self) -> Any:
        """This thread's dlib object (created on the thread's first call)."""
        model = getattr(self._local, "model", None)
        if model is None:
            try:
                model = self._local.model = self._factory(str(self.path))
            except RuntimeError as exc:
                raise ModelError(f"model {self.label}: dlib cannot load it: {exc}") from None
        return model

    def shape(self, image: np.ndarray, rect: Any) -> Any:
        """Landmarks (a `dlib.full_object_detection`) of the face in `rect` of an RGB uint8 image."""
        if self.task != "face_shape_predictor":
            raise ModelError(f"model {self.label} is not a shape predictor")
        return self.model()(image, rect)

    def descriptor(self, image: np.ndarray, shape: Any, *, num_jitters: int = 0, padding: float = 0.25) -> np.ndarray:
        """The face descriptor (float64) of the face whose landmarks are `shape` in an RGB uint8 image."""
        if self.task != "face_embedding":
            raise ModelError(f"model {self.label} is not a face embedding model")
        return np.asarray(self.model().compute_face_descriptor(image, shape, num_jitters, padding), dtype=np.float64)
