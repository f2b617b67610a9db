"""Signed model bundles of small dummy models, built in-process by the updater's own code: what a
test installs when it is about the bundle (switches, reports), not about what the models do."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance_updater import keys
from appliance_updater.bundle import build_bundle, sign_bundle

__all__ = ["dummy_model", "signed_dummy_bundle"]


def dummy_model(models_dir: Path, name: str, version: str, repeats: int = 100) -> None:
    """`<models_dir>/<name>/<version>/`: a card and a model file of `repeats` times its name and version."""
    version_dir = models_dir / name / version
    version_dir.mkdir(parents=True)
    data = f"{name} {version} ".encode() * repeats
    (version_dir / "model.onnx").write_bytes(data)
    card = {
        "name": name,
        "version": version,
        "task": "other",
        "runtime": "onnx",
        "files": [{"name": "model.onnx", "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}],
        "source": f"https://example.org/{name}",
        "license": "Apache-2.0",
    }
    (version_dir / "card.json").write_text(json.dumps(card))


def signed_dummy_bundle(
    tmp: Path, signers: list[keys.PrivateKey], version: int, models: dict[str, str], repeats: int = 100
) -> Path:
    """Bundle `models-<version>` of the dummy `models` (name -> version), signed by `signers`."""
    src = tmp / f"src-{version}"
    for name, model_version in models.items():
        dummy_model(src, name, model_version, repeats)
    out = tmp / f"models-{version}.tar"
    now = datetime.now(UTC)
    build_bundle(
        src,
        out,
        bundle_id=f"models-{version}",
        bundle_version=version,
        product="liveness-appliance",
        runtime_abi="models-1",
        issued_at=now - timedelta(minutes=1),
        expires_at=now + timedelta(days=1),
    )
    for key in signers:
        sign_bundle(out, key)
    return out
