"""The model card: `<models_root>/<name>/<version>/card.json` (docs/model-store.md, "card.json").

Unknown fields are accepted and ignored, so that a newer updater can add some; the fields below are
checked. A card whose `card_format` is newer than this code knows is refused. `params` stay an open
mapping here: what a task's params mean is the business of whoever runs that task.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import msgspec

from appliance_modelstore.errors import ModelError
from appliance_modelstore.layout import CARD_FILE, FILE_NAME, MODEL_NAME, SHA256, version_key

__all__ = ["CARD_FORMAT", "ModelCard", "ModelFile", "RuntimeKind", "Task", "checked", "decode_card", "encode_card"]

#: The card format this code reads and writes.
CARD_FORMAT = 1


class Task(StrEnum):
    """What a model does: the appliance's face pipeline runs the first five, plugins the others."""

    FACE_DETECTOR = "face_detector"
    FACE_LANDMARKS = "face_landmarks"
    IRIS_LANDMARKS = "iris_landmarks"
    FACE_SHAPE_PREDICTOR = "face_shape_predictor"
    FACE_EMBEDDING = "face_embedding"
    PRESENTATION_ATTACK = "presentation_attack"
    #: The liveness cues fused into one attack logit (docs/liveness.md).
    PRESENTATION_ATTACK_FUSION = "presentation_attack_fusion"
    OTHER = "other"


class RuntimeKind(StrEnum):
    """What runs a model: LiteRT (ai-edge-litert), ONNX Runtime, or dlib."""

    LITERT = "litert"
    ONNX = "onnx"
    DLIB = "dlib"


class ModelFile(msgspec.Struct, kw_only=True, frozen=True):
    """One file of a model version, beside its card."""

    name: str
    sha256: str
    size_bytes: int

    def __post_init__(self) -> None:
        if not FILE_NAME.fullmatch(self.name) or self.name == CARD_FILE:
            raise ValueError(f"file name {self.name!r} must be a plain name (letters, digits, . _ -), not {CARD_FILE}")
        if not SHA256.fullmatch(self.sha256):
            raise ValueError(f"file {self.name}: sha256 must be 64 lowercase hex digits")
        if self.size_bytes < 0:
            raise ValueError(f"file {self.name}: size_bytes must not be negative")


class ModelCard(msgspec.Struct, kw_only=True, frozen=True):
    """What a model version is, where it came from and how to run it."""

    name: str
    version: str
    task: Task
    runtime: RuntimeKind
    #: The model's files; the first is the main file (the one a runtime loads).
    files: list[ModelFile]
    #: Where the weights came from: `package==version` or a URL.
    source: str
    #: SPDX identifier (or expression) of the weights' license.
    license: str
    description: str = ""
    #: Required for face_embedding: embeddings of different spaces are never compared.
    embedding_space: str | None = None
    #: Task-specific settings (input size, normalisation, anchors, chip size, ...).
    params: dict[str, Any] = {}
    card_format: int = CARD_FORMAT

    def __post_init__(self) -> None:
        if not MODEL_NAME.fullmatch(self.name):
            raise ValueError(f"model name {self.name!r} must be lowercase letters, digits, . _ - (at most 64)")
        key = version_key(self.version)
        if str(key) != self.version:
            raise ValueError(f"model version {self.version!r} must be written in its normal form {str(key)!r}")
        if not self.files:
            raise ValueError(f"model {self.name} {self.version}: the card names no files")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"model {self.name} {self.version}: a file is named twice")
        if self.task == Task.FACE_EMBEDDING and not self.embedding_space:
            raise ValueError(f"model {self.name} {self.version}: a face_embedding model needs an embedding_space")
        if self.card_format > CARD_FORMAT:
            raise ValueError(
                f"model {self.name} {self.version}: card_format {self.card_format} is newer than this appliance "
                f"reads ({CARD_FORMAT}); update the appliance"
            )

    @property
    def main_file(self) -> ModelFile:
        return self.files[0]

    @property
    def sha256(self) -> str:
        """The sha256 of the main file: what results record as the model's identity."""
        return self.files[0].sha256


def encode_card(card: ModelCard) -> bytes:
    """The card as card.json: indented JSON with a final newline; the same card gives the same bytes."""
    return msgspec.json.format(msgspec.json.encode(card), indent=2) + b"\n"


def decode_card(data: bytes | str, where: str = CARD_FILE) -> ModelCard:
    """Parse and check a card; `where` names it in the error."""
    try:
        return msgspec.json.decode(data, type=ModelCard)
    except msgspec.ValidationError as exc:
        raise ModelError(f"{where}: invalid model card: {exc}") from None
    except msgspec.DecodeError as exc:
        raise ModelError(f"{where}: not JSON: {exc}") from None


def checked(card: ModelCard) -> ModelCard:
    """A card built in Python, checked like one read from disk (types included)."""
    return decode_card(msgspec.json.encode(card), f"model card {card.name} {card.version}")
