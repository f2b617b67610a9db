"""The bundle file: an uncompressed tar read as a stream (docs/updater.md, "Bundle format").

manifest.json        first entry: the signed manifest, exact bytes
signatures.json      second entry: {"signatures": [{"keyid", "sig"}, ...]} over manifest.json
models/<name>/<version>/<file> ...   every file the manifest names, nothing else
"""

from __future__ import annotations

import json
import os
import secrets
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, Self

from appliance_modelstore.files import CHUNK_BYTES, sha256_file
from appliance_modelstore.layout import ACTIVE_LINK, CARD_FILE, is_hidden

from appliance_updater.errors import InstallFailed, UsageError, VerificationRefused
from appliance_updater.json_forms import pretty_json
from appliance_updater.keys import PrivateKey
from appliance_updater.manifest import MANIFEST_FORMAT, MAX_MANIFEST_BYTES, Manifest, parse_manifest
from appliance_updater.trust import Root, require_threshold

__all__ = ["BundleReader", "build_bundle", "sign_bundle"]

MANIFEST_NAME = "manifest.json"
SIGNATURES_NAME = "signatures.json"
MAX_SIGNATURES_BYTES = 64 * 1024
#: Most bytes of tar headers (pax and GNU long-name records included) allowed before an entry's data.
MAX_HEADER_BYTES = 1 << 20
_TAR_ERRORS = (tarfile.TarError, EOFError, OSError, ValueError)


class _Budget:
    """The bundle file as tarfile reads it, refusing reads beyond the current entry's budget.

    tarfile reads pax and GNU long-name headers whole into memory; without a budget, a crafted
    header could fill the memory before the first signature is checked.
    """

    SLACK = 1 << 20  # tarfile's stream reads ahead in records

    def __init__(self, fh: IO[bytes], name: str) -> None:
        self._fh, self._name = fh, name
        self.pos, self.limit = 0, MAX_HEADER_BYTES + self.SLACK

    def allow_after(self, member: tarfile.TarInfo) -> None:
        """Allow the member's data (padded to blocks) and the next entry's headers."""
        padded = -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
        self.limit = member.offset_data + padded + MAX_HEADER_BYTES + self.SLACK

    def read(self, size: int = -1) -> bytes:
        if size < 0 or self.pos + size > self.limit:
            raise InstallFailed(f"bundle {self._name}: a tar header is larger than {MAX_HEADER_BYTES} bytes; refused")
        data = self._fh.read(size)
        self.pos += len(data)
        return data


class BundleReader:
    """Reads a bundle front to back once; never seeks, never extracts by itself."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self._fh: IO[bytes] = open(self.path, "rb")
        except OSError as exc:
            raise UsageError(f"cannot open bundle {self.path}: {exc}") from None
        try:
            self._budget = _Budget(self._fh, self.path.name)
            self._tar = tarfile.open(fileobj=self._budget, mode="r|")  # type: ignore[call-overload]
        except _TAR_ERRORS as exc:
            self._fh.close()
            raise InstallFailed(f"{self.path.name} is not a bundle (not a tar file): {exc}") from None

    def close(self) -> None:
        self._tar.close()
        self._fh.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _next(self) -> tarfile.TarInfo | None:
        try:
            member = self._tar.next()
        except _TAR_ERRORS as exc:
            raise InstallFailed(f"bundle {self.path.name} is damaged or truncated: {exc}") from None
        if member is not None:
            self._budget.allow_after(member)
        return member

    def _small(self, name: str, limit: int) -> bytes:
        member = self._next()
        if member is None or member.name != name:
            found = "the end" if member is None else repr(member.name)
            raise VerificationRefused(f"bundle {self.path.name}: entry {name} expected, found {found}")
        if member.type not in (tarfile.REGTYPE, tarfile.AREGTYPE):
            raise VerificationRefused(f"bundle {self.path.name}: {name} is not a regular file")
        if member.size > limit:
            raise VerificationRefused(
                f"bundle {self.path.name}: {name} has {member.size} bytes, at most {limit} allowed"
            )
        try:
            data = self._tar.extractfile(member).read()
        except _TAR_ERRORS as exc:
            raise InstallFailed(f"bundle {self.path.name} is damaged or truncated: {exc}") from None
        if len(data) != member.size:
            raise InstallFailed(f"bundle {self.path.name} is truncated in {name}")
        return data

    def read_head(self) -> tuple[bytes, list[Any]]:
        """The manifest bytes and the signature list, the first two entries; nothing else is read."""
        manifest = self._small(MANIFEST_NAME, MAX_MANIFEST_BYTES)
        raw_sigs = self._small(SIGNATURES_NAME, MAX_SIGNATURES_BYTES)
        try:
            sigs = json.loads(raw_sigs)["signatures"]
            if not isinstance(sigs, list):
                raise TypeError("signatures must be a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationRefused(f"bundle {self.path.name}: unreadable {SIGNATURES_NAME}: {exc}") from None
        return manifest, sigs

    def verified_manifest(self, root: Root) -> tuple[Manifest, set[str]]:
        """Check the signatures against the root's threshold, then parse the manifest."""
        raw, sigs = self.read_head()
        signers = require_threshold(root, raw, sigs, f"bundle {self.path.name}")
        return parse_manifest(raw), signers

    def files(self) -> Iterator[tuple[tarfile.TarInfo, IO[bytes] | None]]:
        """The remaining entries, each with a reader for regular files (None for anything else)."""
        while (member := self._next()) is not None:
            if member.type in (tarfile.REGTYPE, tarfile.AREGTYPE):
                yield member, self._tar.extractfile(member)
            else:
                yield member, None

    def read_chunks(self, stream: IO[bytes]) -> Iterator[bytes]:
        try:
            while chunk := stream.read(CHUNK_BYTES):
                yield chunk
        except _TAR_ERRORS as exc:
            raise InstallFailed(f"bundle {self.path.name} is damaged or truncated: {exc}") from None


# Building (vendor side) -------------------------------------------------------------------------


def _tarinfo(name: str, size: int, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _find_models(models_dir: Path) -> list[Path]:
    """`<dir>/<name>/<version>` for each model: the `active` one, or the only version there is."""
    found = []
    for model_dir in sorted(p for p in models_dir.iterdir() if p.is_dir() and not is_hidden(p.name)):
        active = model_dir / ACTIVE_LINK
        if active.is_symlink():
            found.append(model_dir / os.readlink(active))
            continue
        versions = [v for v in model_dir.iterdir() if not is_hidden(v.name) and (v / CARD_FILE).is_file()]
        if len(versions) != 1:
            raise UsageError(f"{model_dir}: {len(versions)} versions and no active link; which one to bundle?")
        found.append(versions[0])
    if not found:
        raise UsageError(f"{models_dir}: no models (expected <name>/<version>/card.json)")
    return found


def build_manifest(
    models_dir: Path,
    *,
    bundle_id: str,
    bundle_version: int,
    product: str,
    runtime_abi: str,
    issued_at: datetime | None = None,
    expires_at: datetime | None = None,
    migrations: list[dict[str, str]] | None = None,
    downgrades: list[dict[str, str]] | None = None,
    canaries: dict[str, list[dict[str, Any]]] | None = None,
) -> tuple[bytes, list[tuple[str, Path]]]:
    """The manifest bytes and the (entry name, source file) list of a bundle of `models_dir`."""
    issued = (issued_at or datetime.now(UTC)).replace(microsecond=0)
    models, sources = [], []
    for version_dir in _find_models(Path(models_dir)):
        card = json.loads((version_dir / CARD_FILE).read_text())
        files = []
        for f in card.get("files", []):
            path = version_dir / f["name"]
            sha, size = sha256_file(path)
            if (sha, size) != (f["sha256"], f["size_bytes"]):
                raise UsageError(f"{path}: {size} bytes, sha256 {sha}; the card says {f['size_bytes']}, {f['sha256']}")
            files.append({"name": f["name"], "size": size, "sha256": sha})
            sources.append((f"models/{card['name']}/{card['version']}/{f['name']}", path))
        entry = {
            "name": card["name"],
            "version": card["version"],
            "task": card["task"],
            "runtime": card["runtime"],
            "embedding_space": card.get("embedding_space"),
            "files": files,
            "card": card,
        }
        if canaries and card["name"] in canaries:
            entry["canaries"] = canaries[card["name"]]
        models.append(entry)
    manifest = {
        "format": MANIFEST_FORMAT,
        "bundle_id": bundle_id,
        "bundle_version": bundle_version,
        "product": product,
        "runtime_abi": runtime_abi,
        "issued_at": issued.isoformat().replace("+00:00", "Z"),
        "expires_at": None if expires_at is None else expires_at.isoformat().replace("+00:00", "Z"),
        "models": models,
        "migrations": migrations or [],
        "downgrades": downgrades or [],
    }
    raw = pretty_json(manifest)
    parse_manifest(raw)  # the builder refuses what an appliance would refuse
    return raw, sources


def write_bundle(out: Path, manifest: bytes, signatures: list[dict], sources: list[tuple[str, Path]]) -> None:
    """Write a bundle (atomically: a temp file renamed over `out`)."""
    out = Path(out)
    mtime = int(parse_manifest(manifest).issued_at.timestamp())
    temp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    try:
        with tarfile.open(temp, "w", format=tarfile.PAX_FORMAT) as tar:
            sigs = pretty_json({"signatures": signatures})
            for name, data in ((MANIFEST_NAME, manifest), (SIGNATURES_NAME, sigs)):
                tar.addfile(_tarinfo(name, len(data), mtime), _BytesReader(data))
            for name, path in sources:
                with open(path, "rb") as fh:
                    tar.addfile(_tarinfo(name, os.fstat(fh.fileno()).st_size, mtime), fh)
        os.replace(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def build_bundle(models_dir: Path, out: Path, **manifest_fields: Any) -> Manifest:
    raw, sources = build_manifest(models_dir, **manifest_fields)
    write_bundle(out, raw, [], sources)
    return parse_manifest(raw)


def sign_bundle(path: Path, key: PrivateKey) -> int:
    """Add (or replace) `key`'s signature; returns the number of signatures now in the bundle."""
    path = Path(path)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    with BundleReader(path) as reader:
        manifest, sigs = reader.read_head()
        parse_manifest(manifest)
        sigs = [s for s in sigs if not (isinstance(s, dict) and s.get("keyid") == key.keyid)]
        sigs.append(key.sign(manifest))
        mtime = int(parse_manifest(manifest).issued_at.timestamp())
        try:
            with tarfile.open(temp, "w", format=tarfile.PAX_FORMAT) as tar:
                for name, data in ((MANIFEST_NAME, manifest), (SIGNATURES_NAME, pretty_json({"signatures": sigs}))):
                    tar.addfile(_tarinfo(name, len(data), mtime), _BytesReader(data))
                for member, stream in reader.files():
                    tar.addfile(member, stream)
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
    return len(sigs)


class _BytesReader:
    def __init__(self, data: bytes) -> None:
        self._data, self._pos = data, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk
