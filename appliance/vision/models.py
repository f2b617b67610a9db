"""What the vision pipeline needs from `appliance.runtime`, as protocols.

The pipeline takes models from anything with `get(name) -> loaded model` (the appliance's
`ModelRuntime`), so it never loads files itself and a version switch in the store reaches it at
the next `get`. A loaded model reports `name`, `version`, `sha256` and its model `card` (`task`,
`runtime`, `params`, `embedding_space`); a LiteRT model runs with `invoke(inputs) -> outputs`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from appliance.runtime import ModelCard

__all__ = ["LoadedModelLike", "ModelProvider", "card_param", "model_ref"]


class LoadedModelLike(Protocol):
    name: str
    version: str
    sha256: str

    @property
    def card(self) -> ModelCard: ...

    def invoke(self, inputs: list[np.ndarray]) -> list[np.ndarray]: ...


class ModelProvider(Protocol):
    def get(self, name: str) -> Any:
        """The active version of model `name`, loaded (a `LoadedModelLike`)."""

    def active_versions(self) -> dict[str, str]:
        """Every model of the store with an active version: name -> version."""

    def card(self, name: str, version: str) -> ModelCard:
        """The card of an installed version, read without loading the model."""


def model_ref(model: Any) -> str:
    """`name@version`: how a model is named in cache keys, embeddings and outcomes."""
    return f"{model.name}@{model.version}"


def card_param(model: LoadedModelLike, *path: str, default: Any = None) -> Any:
    """The card's `params[path[0]][path[1]]...`, or `default` when the card does not set it.

    How the face detector reads its options (detector.py, `options_for`); the params of the other
    tasks of the pipeline are typed (appliance.vision.params)."""
    value: Any = getattr(getattr(model, "card", None), "params", None) or {}
    for key in path:
        if not isinstance(value, Mapping) or value.get(key) is None:
            return default
        value = value[key]
    return value
