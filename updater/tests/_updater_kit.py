"""Helpers for the updater's tests: real keys, real model files, real bundles (no mocks)."""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance_updater import keys
from appliance_updater.bundle import build_bundle, sign_bundle
from appliance_updater.install import Updater
from appliance_updater.keys import PrivateKey
from appliance_updater.trust import Root

PRODUCT = "liveness-appliance"
ABI = "models-1"


def content(name: str, version: str, file_name: str, size: int) -> bytes:
    """Deterministic bytes for a model file: the same model version always has the same content."""
    return random.Random(f"{name}/{version}/{file_name}").randbytes(size)


def write_model(
    models_dir: Path,
    name: str,
    version: str,
    *,
    task: str = "other",
    runtime: str = "onnx",
    embedding_space: str | None = None,
    files: dict[str, int] | None = None,
    description: str = "",
) -> Path:
    """`<models_dir>/<name>/<version>/` with a card the appliance accepts and its files."""
    version_dir = models_dir / name / version
    version_dir.mkdir(parents=True)
    card_files = []
    for file_name, size in (files or {"model.onnx": 3000}).items():
        data = content(name, version, file_name, size)
        (version_dir / file_name).write_bytes(data)
        card_files.append({"name": file_name, "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": size})
    card = {
        "name": name,
        "version": version,
        "task": task,
        "runtime": runtime,
        "files": card_files,
        "source": f"https://example.org/{name}-{version}",
        "license": "Apache-2.0",
        "description": description,
        "embedding_space": embedding_space,
        "params": {},
    }
    (version_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n")
    return version_dir


#: The default model set of the tests: detector, landmarks, embedding.
SET_1 = {
    "det": {"version": "1.0.0", "task": "face_detector", "runtime": "litert", "files": {"det.tflite": 5000}},
    "mesh": {
        "version": "1.0.0",
        "task": "face_landmarks",
        "runtime": "litert",
        "files": {"mesh.tflite": 4000, "aux.bin": 10},
    },
    "emb": {
        "version": "1.0.0",
        "task": "face_embedding",
        "runtime": "dlib",
        "embedding_space": "space-a",
        "files": {"emb.dat": 6000},
    },
}


def bump(models: dict, **versions: str) -> dict:
    out = {k: dict(v) for k, v in models.items()}
    for name, version in versions.items():
        out[name]["version"] = version
    return out


@dataclass
class Vendor:
    """Signing keys and the root the appliance trusts (2 of 3 by default)."""

    tmp: Path
    signers: list[PrivateKey] = field(default_factory=lambda: [keys.generate() for _ in range(3)])
    threshold: int = 2
    counter: int = 0

    def root(self, version: int = 1, signers: list[PrivateKey] | None = None, threshold: int | None = None) -> Root:
        members = signers or self.signers
        root = Root.create([k.public for k in members], threshold or self.threshold, version)
        for k in members:
            root = root.sign(k)
        return root

    def root_file(self, root: Root, name: str = "root.json") -> Path:
        path = self.tmp / name
        path.write_text(json.dumps(root.to_json(), indent=2))
        return path

    def bundle(
        self,
        models: dict,
        version: int,
        *,
        sign_with: list[PrivateKey] | None = None,
        expires_in: timedelta | None = timedelta(days=30),
        product: str = PRODUCT,
        abi: str = ABI,
        migrations: list[dict] | None = None,
        downgrades: list[dict] | None = None,
        bundle_id: str | None = None,
    ) -> Path:
        self.counter += 1
        src = self.tmp / f"src-{self.counter}"
        for name, spec in models.items():
            write_model(src, name, **spec)
        out = self.tmp / f"bundle-{self.counter}-v{version}.tar"
        now = datetime.now(UTC)
        build_bundle(
            src,
            out,
            bundle_id=bundle_id or f"models-{version}",
            bundle_version=version,
            product=product,
            runtime_abi=abi,
            issued_at=now - timedelta(minutes=5),
            expires_at=None if expires_in is None else now + expires_in,
            migrations=migrations,
            downgrades=downgrades,
        )
        for key in self.signers[: self.threshold] if sign_with is None else sign_with:
            sign_bundle(out, key)
        return out


def appliance(tmp: Path, vendor: Vendor, root: Root | None = None) -> Updater:
    """A provisioned appliance: state directory with the vendor's root, empty model store."""
    up = Updater(tmp / "state", tmp / "models")
    with up:
        up.init(vendor.root_file(root or vendor.root()))
    return up


def install(up: Updater, bundle: Path, **kw):
    with up:
        return up.install(bundle, **kw)


def snapshot(models_root: Path) -> dict[str, object]:
    """Every path under the store with its link target or content hash: "nothing changed" checks."""
    out: dict[str, object] = {}
    for path in sorted(models_root.rglob("*")):
        rel = str(path.relative_to(models_root))
        if path.is_symlink():
            out[rel] = "-> " + str(path.readlink())
        elif path.is_file():
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            out[rel] = "dir"
    return out


Entry = tuple[tarfile.TarInfo, bytes]


def rewrite(bundle: Path, out: Path, change: Callable[[list[Entry]], list[Entry]]) -> Path:
    """Copy a bundle entry by entry through `change` (a list of (TarInfo, data)), as an attacker would."""
    with tarfile.open(bundle) as tar:
        entries = [(m, tar.extractfile(m).read() if m.isreg() else b"") for m in tar.getmembers()]
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in change(entries):
            if info.isreg():
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out
