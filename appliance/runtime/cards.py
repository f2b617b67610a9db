"""The model card: `<models_root>/<name>/<version>/card.json`, documented in docs/model-store.md.

Unknown fields are accepted and ignored, so that a newer updater can add some; the fields below are
checked. A card whose `card_format` is newer than this code knows is refused.
"""

from __future__ import annotations

import re
from typing import Any, Literal

import msgspec
from packaging.version import InvalidVersion, Version

from appliance.runtime.errors import ModelError

__all__ = [
    "CARD_FILE",
    "CARD_FORMAT",
    "RUNTIMES",
    "TASKS",
    "ModelCard",
    "ModelFile",
    "RuntimeKind",
    "Task",
    "checked",
    "decode_card",
    "encode_card",
    "version_key",
]

CARD_FILE = "card.json"
#: The card format this code reads and writes.
CARD_FORMAT = 1

Task = Literal[
    "face_detector",
    "face_landmarks",
    "iris_landmarks",
    "face_shape_predictor",
    "face_embedding",
    "presentation_attack",
    "other",
]
RuntimeKind = Literal["litert", "onnx", "dlib"]
TASKS: tuple[str, ...] = Task.__args__  # type: ignore[attr-defined]
RUNTIMES: tuple[str, ...] = RuntimeKind.__args__  # type: ignore[attr-defined]

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_SHA256 = re.compile(r"[0-9a-f]{64}")


def version_key(version: str) -> Version:
    """The sort key of a model version (PEP 440); raises ValueError when `version` is not one."""
    try:
        return Version(version)
    except InvalidVersion:
        raise ValueError(f"model version {version!r} is not a PEP 440 version (e.g. 1.0.0 or 2026.11.25)") from None


class ModelFile(msgspec.Struct, kw_only=True, frozen=True):
    """One file of a model version, beside its card."""

    name: str
    sha256: str
    size_bytes: int

    def __post_init__(self) -> None:
        if not _FILE_NAME.fullmatch(self.name) or self.name == CARD_FILE:
            raise ValueError(f"file name {self.name!r} must be a plain name (letters, digits, . _ -), not {CARD_FILE}")
        if not _SHA256.fullmatch(self.sha256):
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
        if not _NAME.fullmatch(self.name):
            raise ValueError(f"model name {self.name!r} must be lowercase letters, digits, . _ - (at most 64)")
        key = version_key(self.version)
        if str(key) != self.version:
            raise ValueError(f"model version {self.version!r} must be written in its normal form {str(key)!r}")
        if not self.files:
            raise ValueError(f"model {self.name} {self.version}: the card names no files")
        names = [f.name for f in self.files]
        if len(set(names)) != len(names):
            raise ValueError(f"model {self.name} {self.version}: a file is named twice")
        if self.task == "face_embedding" and not self.embedding_space:
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


def decode_card(data: bytes | str, where: str = "card.json") -> ModelCard:
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
