"""Loading models from the store: lazy, locked, verified, and following the active version.

`ModelRuntime.get(name)` reads the model's `active` link on every call (one readlink), so a switch
of the active version is picked up by the next task without a restart. Loaded models are cached by
(name, version); when a newer active version is loaded, the cache lets go of the older one, and
tasks still holding it finish with it.

`threads` is what one inference may use: the LiteRT and ONNX Runtime threads of each model, and
OpenCV's thread pool, which prepares the models' inputs (resizes, warps, colour conversions). The
process's OpenCV pool is set to it when the runtime is made: analysis workers are one process per
core, and OpenCV's default (a thread per core in every process) would only make them contend.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
from appliance_modelstore.cards import ModelCard
from appliance_modelstore.store import ModelStore

from appliance.runtime.dlib_models import DlibModel
from appliance.runtime.errors import ModelError, ModelNotFoundError
from appliance.runtime.litert import LiteRTModel
from appliance.runtime.onnx import OnnxModel
from appliance.runtime.tensors import TensorInfo

__all__ = ["LoadedModel", "ModelHandle", "ModelRuntime"]

log = logging.getLogger(__name__)

ModelHandle = LiteRTModel | OnnxModel | DlibModel


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """A model version loaded and verified; `handle` is the runtime's object."""

    card: ModelCard
    handle: ModelHandle
    load_seconds: float

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def version(self) -> str:
        return self.card.version

    @property
    def sha256(self) -> str:
        """sha256 of the main file."""
        return self.card.sha256

    @property
    def runtime(self) -> str:
        return self.card.runtime

    @property
    def inputs(self) -> list[TensorInfo]:
        return self.handle.inputs

    @property
    def outputs(self) -> list[TensorInfo]:
        return self.handle.outputs

    def invoke(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run a tensor model (litert or onnx): one array per input, in order."""
        if isinstance(self.handle, DlibModel):
            raise ModelError(f"model {self.name} {self.version} is a dlib model: use handle.shape / handle.descriptor")
        return self.handle.invoke(inputs)

    def describe(self) -> str:
        return f"{self.name} {self.version} ({self.runtime}, sha256 {self.sha256[:12]})"


class ModelRuntime:
    """Hands out loaded models by name, loading each active version once per process."""

    def __init__(self, store: ModelStore, threads: int = 1, *, xnnpack: bool = True) -> None:
        if threads < 1:
            raise ValueError("model runtime threads must be at least 1")
        self.store = store
        self.threads = threads
        self.xnnpack = xnnpack
        cv2.setNumThreads(threads)
        self._lock = threading.Lock()
        self._loaded: dict[tuple[str, str], LoadedModel] = {}
        self._cards: dict[tuple[str, str], ModelCard] = {}

    def get(self, name: str) -> LoadedModel:
        """The active version of model `name`, loaded (and verified) on first use."""
        version = self.store.active_version(name)
        if version is None:
            self.store.card(name)  # raises the right "not in the store" / "no active version" error
            raise ModelNotFoundError(f"model {name} has no active version")
        key = (name, version)
        model = self._loaded.get(key)
        if model is not None:
            return model
        with self._lock:
            model = self._loaded.get(key)
            if model is None:
                model = self._load(name, version)
                for old in [k for k in self._loaded if k[0] == name]:
                    del self._loaded[old]  # tasks holding the old one keep it until they finish
                self._loaded[key] = model
        return model

    def loaded(self) -> list[LoadedModel]:
        """The models loaded in this process."""
        with self._lock:
            models = list(self._loaded.values())
        return sorted(models, key=lambda m: m.name)

    def card(self, name: str, version: str) -> ModelCard:
        """The card of an installed version, read once (a version never changes), without loading it."""
        key = (name, version)
        card = self._cards.get(key)
        if card is None:
            card = self._cards[key] = self.store.card(name, version)
        return card

    def active_versions(self) -> dict[str, str]:
        """Every model in the store with its active version (e.g. for /api/version)."""
        found = {}
        for name in self.store.names():
            version = self.store.active_version(name)
            if version is not None:
                found[name] = version
        return found

    def _load(self, name: str, version: str) -> LoadedModel:
        started = time.perf_counter()
        card = self.store.card(name, version)
        self.store.verify(card)
        path = self.store.file_path(card)
        label = f"{name} {version}"
        handle: ModelHandle
        if card.runtime == "litert":
            handle = LiteRTModel(path, threads=self.threads, xnnpack=self.xnnpack, label=label)
        elif card.runtime == "onnx":
            handle = OnnxModel(path, threads=self.threads, label=label)
        elif card.runtime == "dlib":
            handle = DlibModel(path, task=card.task, label=label)
        else:  # pragma: no cover - the card's type allows no other value
            raise ModelError(f"model {label}: unknown runtime {card.runtime}")
        model = LoadedModel(card=card, handle=handle, load_seconds=time.perf_counter() - started)
        log.info("model loaded: %s in %.0f ms", model.describe(), model.load_seconds * 1000)
        return model
