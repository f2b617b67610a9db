"""The model store on disk: versioned model directories and an atomic `active` pointer per model.

The layout is documented in docs/model-store.md; the updater writes the same layout without
importing this module. Readers ignore every entry whose name starts with a dot (staging
directories, temporary links), so a half-installed model is never visible.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path

from appliance.runtime.cards import CARD_FILE, ModelCard, ModelFile, checked, decode_card, encode_card, version_key
from appliance.runtime.errors import ModelError, ModelIntegrityError, ModelNotFoundError

__all__ = ["ACTIVE_LINK", "ModelStore", "sha256_file"]

ACTIVE_LINK = "active"
#: Written by the updater: the bundle whose models are active (docs/model-store.md).
BUNDLE_MARKER = ".bundle.json"
#: Written by the updater: `<root>/.manifests/<sha256>.json`, the exact manifest of each bundle it installed.
MANIFESTS_DIR = ".manifests"
_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    """(sha256 hex, size in bytes) of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ModelStore:
    """Reads and writes `<root>/<name>/<version>/` model directories and `<root>/<name>/active` links."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"ModelStore({str(self.root)!r})"

    # Reading ------------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The models in the store (directories not starting with a dot), sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if not p.name.startswith(".") and p.is_dir())

    def versions(self, name: str) -> list[str]:
        """The installed versions of a model (those with a card.json), oldest first (PEP 440 order)."""
        model_dir = self.root / name
        if not model_dir.is_dir():
            return []
        found = []
        for p in model_dir.iterdir():
            if p.name.startswith(".") or p.name == ACTIVE_LINK or p.is_symlink() or not (p / CARD_FILE).is_file():
                continue
            try:
                found.append((version_key(p.name), p.name))
            except ValueError:
                continue  # not a version directory
        return [name for _, name in sorted(found)]

    def active_version(self, name: str) -> str | None:
        """The version `<root>/<name>/active` points to, or None when the model has no active version."""
        try:
            target = os.readlink(self.root / name / ACTIVE_LINK)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise ModelError(f"model {name}: cannot read its active link: {exc}") from None
        if "/" in target or target.startswith("."):
            raise ModelError(f"model {name}: its active link points outside the model ({target!r})")
        return target

    def active_bundle(self) -> dict | None:
        """The signed bundle the updater last made active, from `<root>/.bundle.json` (model-store.md):
        `{"bundle_id", "bundle_version", "manifest_sha256", "models", "installed_at"}`, or None when no
        bundle is active (no file, a store never written by the updater, or after rolling back to no bundle).
        An unreadable file is reported as None too: it is informational and never decides what runs."""
        try:
            marker = json.loads((self.root / BUNDLE_MARKER).read_bytes())
        except (OSError, ValueError):
            return None
        if not isinstance(marker, dict) or not isinstance(marker.get("bundle_id"), str):
            return None
        models = marker.get("models")
        return {
            "bundle_id": marker["bundle_id"],
            "bundle_version": marker.get("bundle_version"),
            "manifest_sha256": marker.get("manifest_sha256"),
            "models": dict(models) if isinstance(models, dict) else {},
            "installed_at": marker.get("installed_at"),
        }

    def active_manifest(self) -> dict | None:
        """The signed manifest of the active bundle (its canaries, its issued_at), as the updater kept it in
        `<root>/.manifests/<manifest_sha256>.json`; None when no bundle is active. Raises ModelError when
        the file is missing or is not the manifest the marker names (its sha256 differs)."""
        bundle = self.active_bundle()
        if bundle is None:
            return None
        sha = bundle["manifest_sha256"]
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            raise ModelError(f"{self.root / BUNDLE_MARKER}: manifest_sha256 is not 64 hex digits")
        path = self.root / MANIFESTS_DIR / f"{sha}.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"the manifest of the active bundle {bundle['bundle_id']} is not kept at {path}") from None
        if hashlib.sha256(data).hexdigest() != sha:
            raise ModelIntegrityError(f"{path} is not the manifest of the active bundle (its sha256 differs)")
        try:
            manifest = json.loads(data)
        except ValueError as exc:
            raise ModelError(f"{path}: unreadable: {exc}") from None
        if not isinstance(manifest, dict) or not isinstance(manifest.get("models"), list):
            raise ModelError(f"{path}: not a bundle manifest")
        return manifest

    def version_dir(self, name: str, version: str) -> Path:
        return self.root / name / version

    def card(self, name: str, version: str | None = None) -> ModelCard:
        """The card of a version; with no version, of the active one."""
        if version is None:
            version = self.active_version(name)
            if version is None:
                if not (self.root / name).is_dir():
                    raise ModelNotFoundError(f"model {name} is not in the model store {self.root}")
                raise ModelNotFoundError(f"model {name} has no active version in the model store {self.root}")
        path = self.version_dir(name, version) / CARD_FILE
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelNotFoundError(f"model {name} version {version} is not in the model store {self.root}") from None
        card = decode_card(data, str(path))
        if (card.name, card.version) != (name, version):
            raise ModelError(f"{path}: the card is for {card.name} {card.version}, not {name} {version}")
        return card

    def file_path(self, card: ModelCard, index: int = 0) -> Path:
        """Where a file of the card lies; index 0 is the main file."""
        return self.version_dir(card.name, card.version) / card.files[index].name

    def verify(self, card: ModelCard) -> None:
        """Check the size and sha256 of every file of the card; raises ModelIntegrityError naming the file."""
        for index, expected in enumerate(card.files):
            path = self.file_path(card, index)
            try:
                sha, size = sha256_file(path)
            except FileNotFoundError:
                raise ModelIntegrityError(f"model {card.name} {card.version}: file {path} is missing") from None
            if size != expected.size_bytes:
                raise ModelIntegrityError(
                    f"model {card.name} {card.version}: file {path} has {size} bytes, "
                    f"the card says {expected.size_bytes}"
                )
            if sha != expected.sha256:
                raise ModelIntegrityError(
                    f"model {card.name} {card.version}: file {path} has sha256 {sha}, the card says {expected.sha256}"
                )

    # Writing ------------------------------------------------------------------------------------

    def install(
        self, card: ModelCard, source_files: Mapping[str, str | os.PathLike[str]], activate: bool = False
    ) -> Path:
        """Install a model version; returns its directory.

        The files are copied into `<root>/<name>/.staging-<random>` while their sizes and hashes are
        checked against the card, written to disk (fsync), and the directory is then renamed to
        `<version>` in one step. On any failure the staging directory is removed and nothing is
        visible. Installing a version that is already there with the same card and intact files
        does nothing; with another card it is refused. `activate` then switches `active` to it.
        """
        card = checked(card)
        names = {f.name for f in card.files}
        if set(source_files) != names:
            raise ModelError(
                f"model {card.name} {card.version}: the card names files {sorted(names)}, "
                f"the source files are {sorted(source_files)}"
            )
        model_dir = self.root / card.name
        final = model_dir / card.version
        if not self._installed_as(card):
            model_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=model_dir))
            try:
                os.chmod(staging, 0o755)
                for expected in card.files:
                    self._copy_checked(card, Path(source_files[expected.name]), staging / expected.name, expected)
                with open(staging / CARD_FILE, "xb") as fh:
                    fh.write(encode_card(card))
                    fh.flush()
                    os.fsync(fh.fileno())
                for entry in staging.iterdir():
                    os.chmod(entry, 0o644)
                _fsync_dir(staging)
                try:
                    os.rename(staging, final)
                except OSError:
                    if not final.exists():
                        raise
                    # another installer was first: fine if it installed the same thing
                    shutil.rmtree(staging, ignore_errors=True)
                    if not self._installed_as(card):
                        raise ModelError(
                            f"model {card.name} {card.version} was installed meanwhile with other content"
                        ) from None
                _fsync_dir(model_dir)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        if activate:
            self.activate(card.name, card.version)
        return final

    def activate(self, name: str, version: str) -> None:
        """Make `version` the active one: verified first, then `active` is replaced atomically."""
        card = self.card(name, version)
        self.verify(card)
        if self.active_version(name) == version:
            return
        model_dir = self.root / name
        temp = model_dir / f".active-{secrets.token_hex(8)}"
        os.symlink(version, temp)
        try:
            os.replace(temp, model_dir / ACTIVE_LINK)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        _fsync_dir(model_dir)

    # Helpers ------------------------------------------------------------------------------------

    def _installed_as(self, card: ModelCard) -> bool:
        """True if this exact version is installed with this card and intact files; False if absent.

        Raises when the version is there with another card, or with files that fail verification.
        """
        final = self.version_dir(card.name, card.version)
        if not final.exists():
            return False
        try:
            existing = self.card(card.name, card.version)
        except ModelError as exc:
            raise ModelError(f"model {card.name} {card.version} is there but unreadable: {exc}") from None
        if existing != card:
            raise ModelError(
                f"model {card.name} {card.version} is already installed with other content; "
                "give the new one another version"
            )
        try:
            self.verify(existing)
        except ModelIntegrityError as exc:
            raise ModelIntegrityError(f"the installed copy is damaged, remove {final} first: {exc}") from None
        return True

    @staticmethod
    def _copy_checked(card: ModelCard, source: Path, target: Path, expected: ModelFile) -> None:
        digest, size = hashlib.sha256(), 0
        with open(source, "rb") as src, open(target, "xb") as dst:
            while chunk := src.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
                dst.write(chunk)
            dst.flush()
            os.fsync(dst.fileno())
        sha = digest.hexdigest()
        if size != expected.size_bytes or sha != expected.sha256:
            raise ModelIntegrityError(
                f"model {card.name} {card.version}: source file {source} has {size} bytes and sha256 {sha}, "
                f"the card says {expected.size_bytes} bytes and sha256 {expected.sha256}"
            )
