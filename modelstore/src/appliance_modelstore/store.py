"""A model store on disk: versioned model directories and an atomic `active` pointer per model.

`ModelStore` reads a store (the appliance's runtime does nothing else with it) and builds one:
`install` adds a version, `activate` switches to one, as the tools that make a store directory do
(the default-model builder, a model recipe). An appliance's own store changes through the updater
alone, whose journal makes a switch of several models one transaction (docs/updater.md).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from appliance_modelstore.cards import ModelCard, ModelFile, checked, decode_card, encode_card
from appliance_modelstore.errors import ModelError, ModelIntegrityError, ModelNotFoundError
from appliance_modelstore.files import CHUNK_BYTES, fsync_dir, sha256_file
from appliance_modelstore.layout import (
    ACTIVE_LINK,
    BUNDLE_MARKER,
    CARD_FILE,
    MANIFESTS_DIR,
    SHA256,
    STAGING_PREFIX,
    is_hidden,
    version_key,
)
from appliance_modelstore.marker import ActiveBundle, decode_marker
from appliance_modelstore.switch import switch_active

__all__ = ["ModelStore"]


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
        return sorted(p.name for p in self.root.iterdir() if not is_hidden(p.name) and p.is_dir())

    def versions(self, name: str) -> list[str]:
        """The installed versions of a model (those with a card.json), oldest first (PEP 440 order)."""
        model_dir = self.root / name
        if not model_dir.is_dir():
            return []
        found = []
        for p in model_dir.iterdir():
            if is_hidden(p.name) or p.name == ACTIVE_LINK or p.is_symlink() or not (p / CARD_FILE).is_file():
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
        if "/" in target or is_hidden(target):
            raise ModelError(f"model {name}: its active link points outside the model ({target!r})")
        return target

    def active_bundle(self) -> ActiveBundle | None:
        """The signed bundle the updater last made active, from `<root>/.bundle.json` (model-store.md),
        or None when no bundle is active (no file, a store never written by the updater, or after
        rolling back to no bundle). An unreadable file is None too: it is informational and never
        decides what runs."""
        try:
            return decode_marker((self.root / BUNDLE_MARKER).read_bytes())
        except OSError:
            return None

    def active_manifest(self) -> dict[str, Any] | None:
        """The signed manifest of the active bundle (its canaries, its issued_at), as the updater kept it in
        `<root>/.manifests/<manifest_sha256>.json`; None when no bundle is active. Raises ModelError when
        the file is missing or is not the manifest the marker names (its sha256 differs)."""
        bundle = self.active_bundle()
        if bundle is None:
            return None
        sha = bundle.manifest_sha256
        if not isinstance(sha, str) or not SHA256.fullmatch(sha):
            raise ModelError(f"{self.root / BUNDLE_MARKER}: manifest_sha256 is not 64 hex digits")
        path = self.root / MANIFESTS_DIR / f"{sha}.json"
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise ModelError(f"the manifest of the active bundle {bundle.bundle_id} is not kept at {path}") from None
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
            staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=model_dir))
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
                fsync_dir(staging)
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
                fsync_dir(model_dir)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
        if activate:
            self.activate(card.name, card.version)
        return final

    def activate(self, name: str, version: str) -> None:
        """Make `version` the active one: verified first, then `active` is replaced atomically.
        (On an appliance, `appliance models activate` switches through the updater's journal.)"""
        self.verify(self.card(name, version))
        switch_active(self.root / name, version)

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
            while chunk := src.read(CHUNK_BYTES):
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
