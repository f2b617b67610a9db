"""Model recipe: the published MiniFASNet anti-spoofing weights (ONNX) into a model store.

A vendor or a site's IT runs this on a machine that has the published weights (docs/liveness.md says
where they are published); it reads only the local file it is given:

    python packaging/recipes/minifasnet.py --onnx best_model.onnx --store <models_root> --activate

It checks that the file is an ONNX graph with the expected input ([N, 3, 128, 128]) and output ([N, 2]),
writes the model card (task `presentation_attack`, runtime `onnx`, the input preparation the QUALITY
plugin's passive attack detector reads from `params`, sha256, source and license) and installs the
version with `ModelStore.install`, atomically (docs/model-store.md). `--store` may also be an empty
directory that a bundle is then built from: it holds the store's layout, `<name>/<version>/card.json`
and the file, which is what the offline updater's `appliance-update build MODELS_DIR` reads (issue 5,
docs/updater.md; not landed when this recipe was written). This recipe signs nothing.

Known files, recognised by sha256, get their published name, version and source; any other ONNX file
with the same interface needs `--version` (and gets `--source`, default "local file").
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

__all__ = ["KNOWN", "PARAMS", "build_card", "install", "main"]

#: The repository that publishes the ONNX conversion (Apache-2.0), at the snapshot the tests use.
REPO = "https://github.com/johnraivenolazo/face-antispoof-onnx"
COMMIT = "2b9830bb0eccafddcf0abcedf5c6ad506f0a1142"


class Known(NamedTuple):
    name: str
    version: str
    source: str
    description: str


KNOWN: dict[str, Known] = {
    "af2381b88f38769222ed93379e12444e2a50814575de1c46170de570c55a42b6": Known(
        "minifasnet-v2se",
        "1.0.0",
        f"{REPO}/blob/{COMMIT}/models/best/98.20/best_model.onnx",
        "MiniFASNetV2-SE passive anti-spoofing, fp32, 128x128 RGB face crop (1.5x the face box); 2 logits, real first",
    ),
    "fde20585635cae62ed1d41796f76b6f8bc4b92cd91ec1cf0f1bc6485d2d587a9": Known(
        "minifasnet-v2se-int8",
        "1.0.0",
        f"{REPO}/blob/{COMMIT}/models/best_model_quantized.onnx",
        "MiniFASNetV2-SE passive anti-spoofing, int8, 128x128 RGB face crop (1.5x the face box); 2 logits, real first",
    ),
}

#: How to prepare the input and read the output (docs/liveness.md, "The PAD model slot").
#: `box` maps the appliance's face box (BlazeFace full range) to the geometry of the box the model was
#: trained with (YuNet-like: taller, centre higher), as measured in ../shared/measurements.md, section D.
PARAMS: dict[str, Any] = {
    "crop_scale": 1.5,
    "input_size": [128, 128],
    "layout": "NCHW",
    "color": "RGB",
    "scale": 1 / 255,
    "mean": [0.0, 0.0, 0.0],
    "std": [1.0, 1.0, 1.0],
    "border": "reflect_101",
    "live_index": 0,
    "output": "logits",
    "box": {"shift_x": 0.0, "shift_y": -0.051, "scale": 1.121},
}

FILE_NAME = "model.onnx"


def _sha256(path: Path) -> tuple[str, int]:
    import hashlib

    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check_interface(path: Path) -> None:
    """The graph takes one [N, 3, 128, 128] input and gives one [N, 2] output, or ValueError."""
    import onnxruntime

    try:
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for unreadable graphs
        raise ValueError(f"{path.name} is not a loadable ONNX graph: {exc}") from None
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or list(inputs[0].shape)[1:] != [3, 128, 128]:
        raise ValueError(f"{path.name}: expected one input [N, 3, 128, 128], got {[i.shape for i in inputs]}")
    if len(outputs) != 1 or list(outputs[0].shape)[1:] != [2]:
        raise ValueError(f"{path.name}: expected one output [N, 2], got {[o.shape for o in outputs]}")


def build_card(
    onnx_file: Path,
    *,
    name: str | None = None,
    version: str | None = None,
    source: str | None = None,
) -> Any:
    """The model card for `onnx_file` (an `appliance.runtime.ModelCard`)."""
    from appliance.runtime import ModelCard, ModelFile

    onnx_file = Path(onnx_file)
    _check_interface(onnx_file)
    sha, size = _sha256(onnx_file)
    known = KNOWN.get(sha)
    if known is None and version is None:
        raise ValueError(f"{onnx_file.name} (sha256 {sha[:12]}) is not a known published file: give --version")
    return ModelCard(
        name=name or (known.name if known else "minifasnet-local"),
        version=version or known.version,  # type: ignore[union-attr]
        task="presentation_attack",
        runtime="onnx",
        files=[ModelFile(name=FILE_NAME, sha256=sha, size_bytes=size)],
        source=source or (known.source if known else "local file"),
        license="Apache-2.0",
        description=known.description if known else "MiniFASNet passive anti-spoofing (local ONNX file)",
        params=dict(PARAMS),
    )


def install(onnx_file: Path, store_root: Path, *, activate: bool = True, **card_fields: Any) -> Any:
    """Install `onnx_file` into the model store at `store_root`; returns the card."""
    from appliance.runtime import ModelStore

    card = build_card(Path(onnx_file), **card_fields)
    store = ModelStore(store_root)
    store.install(card, {FILE_NAME: Path(onnx_file)}, activate=activate)
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install the MiniFASNet ONNX anti-spoofing model into a model store.")
    parser.add_argument("--onnx", type=Path, required=True, help="the local ONNX file (e.g. best_model.onnx)")
    parser.add_argument("--store", type=Path, required=True, help="the model store root (or an empty bundle directory)")
    parser.add_argument("--name", help="model name (default: the published name of a known file)")
    parser.add_argument("--version", help="model version, PEP 440 (required for a file that is not a known one)")
    parser.add_argument("--source", help="where the file came from (default: the published URL of a known file)")
    parser.add_argument("--activate", action="store_true", help="make this version the active one")
    args = parser.parse_args(argv)
    try:
        card = install(
            args.onnx, args.store, activate=args.activate, name=args.name, version=args.version, source=args.source
        )
    except (ValueError, OSError) as exc:
        print(f"minifasnet: {exc}", file=sys.stderr)
        return 1
    state = "active" if args.activate else "installed, not active"
    print(f"{card.name} {card.version} ({card.sha256[:12]}) -> {args.store} [{state}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
