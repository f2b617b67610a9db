"""The bundle manifest (`manifest.json`, the bundle's first entry): what the bundle installs.

Parsed only after its signatures were verified; every field is checked here so that the
installer never acts on a value it did not expect (docs/updater.md, "Manifest").
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from appliance_modelstore.cards import RuntimeKind, Task, decode_card
from appliance_modelstore.errors import ModelError
from appliance_modelstore.layout import CARD_FILE, FILE_NAME, MODEL_NAME, SHA256, version_key

from appliance_updater.errors import VerificationRefused

__all__ = ["MANIFEST_FORMAT", "FileEntry", "Manifest", "Migration", "ModelEntry", "parse_manifest"]

MANIFEST_FORMAT = 1
MAX_MANIFEST_BYTES = 1 << 20
BUNDLE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}")


def normal_version(version: object, what: str) -> str:
    if not isinstance(version, str):
        raise ValueError(f"{what}: version must be a string")
    if str(version_key(version)) != version:
        raise ValueError(f"{what}: version {version!r} is not in PEP 440 normal form")
    return version


def parse_time(value: object, what: str) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be an ISO 8601 time string")
    when = datetime.fromisoformat(value)
    if when.tzinfo is None:
        raise ValueError(f"{what} must name its time zone (e.g. 2026-11-25T12:00:00Z)")
    return when


@dataclass(frozen=True)
class FileEntry:
    name: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Canary:
    """A golden input and its expected output; carried and checked for shape, not run yet."""

    input: str
    expected: Any
    tolerance: float


@dataclass(frozen=True)
class ModelEntry:
    name: str
    version: str
    task: str
    runtime: str
    embedding_space: str | None
    card: dict[str, Any]
    files: tuple[FileEntry, ...]
    canaries: tuple[Canary, ...] = ()

    def member(self, file_name: str) -> str:
        """The tar entry name of one of this model's files."""
        return f"models/{self.name}/{self.version}/{file_name}"


@dataclass(frozen=True)
class Migration:
    """Declares how stored embeddings of `from_space` become usable with `to_space` for a model."""

    model: str
    from_space: str
    to_space: str
    method: str


@dataclass(frozen=True)
class Manifest:
    bundle_id: str
    bundle_version: int
    product: str
    runtime_abi: str
    issued_at: datetime
    expires_at: datetime | None
    models: tuple[ModelEntry, ...]
    migrations: tuple[Migration, ...]
    #: (model, version) pairs the signers authorise to install below the highest version seen.
    downgrades: frozenset[tuple[str, str]]
    raw: bytes = field(repr=False)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.raw).hexdigest()

    def members(self) -> dict[str, tuple[ModelEntry, FileEntry]]:
        return {m.member(f.name): (m, f) for m in self.models for f in m.files}

    def migration_for(self, model: str, from_space: str | None, to_space: str | None) -> Migration | None:
        for mig in self.migrations:
            if (mig.model, mig.from_space, mig.to_space) == (model, from_space, to_space):
                return mig
        return None


def _str(value: object, what: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value or (pattern is not None and not pattern.fullmatch(value)):
        raise ValueError(f"{what} must be a non-empty string" + (f" matching {pattern.pattern}" if pattern else ""))
    return value


def _int(value: object, what: str, minimum: int = 0) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{what} must be an integer >= {minimum}")
    return value


def _model(value: object, index: int) -> ModelEntry:
    if not isinstance(value, dict):
        raise ValueError(f"models[{index}] must be an object")
    name = _str(value.get("name"), f"models[{index}].name", MODEL_NAME)
    what = f"model {name}"
    version = normal_version(value.get("version"), what)
    task = value.get("task")
    if task not in set(Task):
        raise ValueError(f"{what}: task must be one of {', '.join(Task)}")
    runtime = value.get("runtime")
    if runtime not in set(RuntimeKind):
        raise ValueError(f"{what}: runtime must be one of {', '.join(RuntimeKind)}")
    space = value.get("embedding_space")
    if space is not None:
        _str(space, f"{what}: embedding_space")
    if task == "face_embedding" and space is None:
        raise ValueError(f"{what}: a face_embedding model needs an embedding_space")
    raw_files = value.get("files")
    if not isinstance(raw_files, list) or not raw_files:
        raise ValueError(f"{what}: files must be a non-empty list")
    files = []
    for f in raw_files:
        if not isinstance(f, dict):
            raise ValueError(f"{what}: each file must be an object")
        fname = _str(f.get("name"), f"{what}: file name", FILE_NAME)
        if fname == CARD_FILE:
            raise ValueError(f"{what}: a file may not be named {CARD_FILE}")
        files.append(
            FileEntry(
                fname,
                _int(f.get("size"), f"{what}: {fname} size"),
                _str(f.get("sha256"), f"{what}: {fname} sha256", SHA256),
            )
        )
    if len({f.name for f in files}) != len(files):
        raise ValueError(f"{what}: a file is named twice")
    card = value.get("card")
    if not isinstance(card, dict):
        raise ValueError(f"{what}: card must be an object")
    try:  # the card as the model store reads it: the one card schema (appliance_modelstore.cards)
        decode_card(json.dumps(card), f"{what}: card")
    except ModelError as exc:
        raise ValueError(str(exc)) from None
    for key, expected in (("name", name), ("version", version), ("task", task), ("runtime", runtime)):
        if card.get(key) != expected:
            raise ValueError(f"{what}: the card's {key} {card.get(key)!r} differs from the manifest's {expected!r}")
    if card.get("embedding_space") != space:
        raise ValueError(f"{what}: the card's embedding_space differs from the manifest's")
    card_files = [
        (f.get("name"), f.get("size_bytes"), f.get("sha256")) for f in card.get("files") or [] if isinstance(f, dict)
    ]
    if card_files != [(f.name, f.size, f.sha256) for f in files]:
        raise ValueError(f"{what}: the card's files (name, size_bytes, sha256) differ from the manifest's files")
    canaries = []
    for c in value.get("canaries") or []:
        if not isinstance(c, dict) or "expected" not in c:
            raise ValueError(f"{what}: a canary needs input, expected and tolerance")
        tol = c.get("tolerance", 0.0)
        if not isinstance(tol, (int, float)) or isinstance(tol, bool) or tol < 0:
            raise ValueError(f"{what}: a canary tolerance must be a number >= 0")
        canaries.append(Canary(_str(c.get("input"), f"{what}: canary input"), c["expected"], float(tol)))
    return ModelEntry(name, version, task, runtime, space, card, tuple(files), tuple(canaries))


def parse_manifest(raw: bytes) -> Manifest:
    """Parse and check a manifest; raises VerificationRefused naming the first problem."""
    try:
        value = json.loads(raw)
        if not isinstance(value, dict):
            raise ValueError("the manifest must be a JSON object")
        fmt = value.get("format")
        if fmt != MANIFEST_FORMAT:
            raise ValueError(f"manifest format {fmt!r}; this updater reads format {MANIFEST_FORMAT}")
        raw_models = value.get("models")
        if not isinstance(raw_models, list) or not raw_models:
            raise ValueError("models must be a non-empty list")
        models = tuple(_model(m, i) for i, m in enumerate(raw_models))
        if len({m.name for m in models}) != len(models):
            raise ValueError("a model is named twice")
        migrations = []
        for mig in value.get("migrations") or []:
            if not isinstance(mig, dict):
                raise ValueError("each migration must be an object")
            migrations.append(
                Migration(
                    _str(mig.get("model"), "migration model", MODEL_NAME),
                    _str(mig.get("from_space"), "migration from_space"),
                    _str(mig.get("to_space"), "migration to_space"),
                    _str(mig.get("method"), "migration method"),
                )
            )
        downgrades = []
        versions = {m.name: m.version for m in models}
        for d in value.get("downgrades") or []:
            if not isinstance(d, dict) or versions.get(str(d.get("model"))) != d.get("version"):
                raise ValueError("each downgrade must name a model of the bundle and its version in the bundle")
            downgrades.append((d["model"], d["version"]))
        expires = value.get("expires_at")
        return Manifest(
            bundle_id=_str(value.get("bundle_id"), "bundle_id", BUNDLE_ID),
            bundle_version=_int(value.get("bundle_version"), "bundle_version", 1),
            product=_str(value.get("product"), "product"),
            runtime_abi=_str(value.get("runtime_abi"), "runtime_abi"),
            issued_at=parse_time(value.get("issued_at"), "issued_at"),
            expires_at=None if expires is None else parse_time(expires, "expires_at"),
            models=models,
            migrations=tuple(migrations),
            downgrades=frozenset(downgrades),
            raw=raw,
        )
    except (ValueError, TypeError) as exc:
        raise VerificationRefused(f"invalid manifest: {exc}") from None
