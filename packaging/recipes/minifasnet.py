"""Model recipe: the published MiniFASNet anti-spoofing weights into a model store, and into a bundle.

A vendor or a site's IT runs this on a machine that has the published weights (docs/liveness.md says
where they are published); it reads only the local files it is given. Two published forms:

* Minivision's Silent-Face PyTorch weights (`2.7_80x80_MiniFASNetV2.pth`, `4_0_0_80x80_MiniFASNetV1SE.pth`,
  the recommended pair): converted to ONNX first by `minifasnet_torch.py`, which runs in a separate
  Python that has PyTorch (`--torch-python`, see requirements-convert.txt); the appliance never needs
  PyTorch. The conversion is checked: ONNX Runtime must reproduce PyTorch's logits on a fixed input.
* The ONNX conversion at 128x128 published by face-antispoof-onnx (`best_model.onnx`, its int8 twin).

    python packaging/recipes/minifasnet.py --pth 2.7_80x80_MiniFASNetV2.pth --pth 4_0_0_80x80_MiniFASNetV1SE.pth \\
        --torch-python .venv-recipes/bin/python --store VENDOR_DIR \\
        [--bundle minifasnet.bundle --bundle-id minifasnet --bundle-version 1 --key vendor.key ...]

Each file is recognised by its sha256 and gets its published name, version, source and the card
params the QUALITY plugin's PAD slot reads (crop, box mapping, input, normalisation, live class);
any other file needs `--version` (and `--kind` for a .pth's crop scale: the file name's prefix).
The models are installed with `ModelStore.install`, atomically (docs/model-store.md). `--store` is
the appliance's model store, or an empty directory a bundle is built from: with `--bundle`, the
recipe runs `appliance-update build` on that directory (each model with a canary: the fixed input
and the outputs it must give) and `appliance-update sign` with every `--key`, which gives the signed
file a field technician installs from a USB stick (docs/updater.md).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

__all__ = ["KNOWN", "build_bundle", "build_card", "install", "main"]

ONNX_REPO = "https://github.com/johnraivenolazo/face-antispoof-onnx"
ONNX_COMMIT = "2b9830bb0eccafddcf0abcedf5c6ad506f0a1142"
SILENT_FACE_REPO = "https://github.com/minivision-ai/Silent-Face-Anti-Spoofing"
SILENT_FACE_COMMIT = "b6d5f04ad78778917853b25c778acef6d5626d15"
CONVERTER = Path(__file__).with_name("minifasnet_torch.py")
FILE_NAME = "model.onnx"
#: ONNX Runtime must give PyTorch's logits within this on the reference input.
CONVERSION_TOLERANCE = 1e-3


def onnx_params() -> dict[str, Any]:
    """Card params of the 128x128 ONNX conversion: a square 1.5x crop of the face box mapped to the
    YuNet-like box it was trained with (../shared/measurements.md, section D), RGB in [0, 1], 2 logits."""
    return {
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


def silent_face_params(crop_scale: float) -> dict[str, Any]:
    """Card params of a Silent-Face model, as its own code prepares the input: the face box scaled by
    `crop_scale` in width and height (not squared), moved inside the frame rather than padded, resized
    to 80x80, BGR pixels 0-255; 3 logits, class 1 live. `box` maps BlazeFace's box to the RetinaFace
    box Silent-Face crops around (fitted on the shared identity photos: the same centre 1.5 % lower,
    3 % narrower; docs/liveness.md). A face whose frame holds less than half of that crop (a tight
    face crop) is not scored: the model judges the surroundings it was trained with, which are not there."""
    return {
        "crop": "box_inside",
        "crop_scale": crop_scale,
        "input_size": [80, 80],
        "layout": "NCHW",
        "color": "BGR",
        "scale": 1.0,
        "mean": [0.0, 0.0, 0.0],
        "std": [1.0, 1.0, 1.0],
        "live_index": 1,
        "output": "logits",
        "box": {"shift_x": 0.0, "shift_y": 0.015, "scale_w": 0.97, "scale_h": 1.0},
        "min_context": 0.5,
    }


class Known(NamedTuple):
    name: str
    version: str
    source: str
    description: str
    params: dict[str, Any]
    #: "onnx" for a published ONNX graph, "pth" for PyTorch weights converted here.
    form: str


def _onnx(path: str, name: str, precision: str) -> Known:
    return Known(
        name,
        "1.0.0",
        f"{ONNX_REPO}/blob/{ONNX_COMMIT}/{path}",
        f"MiniFASNetV2-SE passive anti-spoofing, {precision}, 128x128 RGB face crop (1.5x the face box); 2 logits",
        onnx_params(),
        "onnx",
    )


def _pth(file: str, name: str, crop_scale: float, variant: str) -> Known:
    return Known(
        name,
        "1.0.0",
        f"{SILENT_FACE_REPO}/blob/{SILENT_FACE_COMMIT}/resources/anti_spoof_models/{file}",
        f"Silent-Face {variant} passive anti-spoofing (PyTorch weights converted to ONNX), 80x80 BGR crop of "
        f"{crop_scale}x the face box; 3 logits, class 1 real",
        silent_face_params(crop_scale),
        "pth",
    )


KNOWN: dict[str, Known] = {
    "af2381b88f38769222ed93379e12444e2a50814575de1c46170de570c55a42b6": _onnx(
        "models/best/98.20/best_model.onnx", "minifasnet-v2se", "fp32"
    ),
    "fde20585635cae62ed1d41796f76b6f8bc4b92cd91ec1cf0f1bc6485d2d587a9": _onnx(
        "models/best_model_quantized.onnx", "minifasnet-v2se-int8", "int8"
    ),
    "a5eb02e1843f19b5386b953cc4c9f011c3f985d0ee2bb9819eea9a142099bec0": _pth(
        "2.7_80x80_MiniFASNetV2.pth", "silentface-v2-2.7", 2.7, "MiniFASNetV2"
    ),
    "84ee1d37d96894d5e82de5a57df044ef80a58be2b218b5ed7cdfd875ec2f5990": _pth(
        "4_0_0_80x80_MiniFASNetV1SE.pth", "silentface-v1se-4.0", 4.0, "MiniFASNetV1SE"
    ),
}


def _sha256(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _session(path: Path) -> Any:
    import onnxruntime

    try:
        return onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own types for unreadable graphs
        raise ValueError(f"{path.name} is not a loadable ONNX graph: {str(exc).splitlines()[0]}") from None


def _check_interface(path: Path, size: int, classes: int) -> None:
    """The graph takes one [N, 3, size, size] input and gives one [N, classes] output, or ValueError."""
    session = _session(path)
    inputs, outputs = session.get_inputs(), session.get_outputs()
    if len(inputs) != 1 or list(inputs[0].shape)[1:] != [3, size, size]:
        raise ValueError(f"{path.name}: expected one input [N, 3, {size}, {size}], got {[i.shape for i in inputs]}")
    if len(outputs) != 1 or list(outputs[0].shape)[1:] != [classes]:
        raise ValueError(f"{path.name}: expected one output [N, {classes}], got {[o.shape for o in outputs]}")


class Prepared(NamedTuple):
    """A model ready to install: its ONNX file, card and canary input."""

    onnx: Path
    card: Any
    canary_input: np.ndarray


def _convert(pth: Path, workdir: Path, torch_python: str) -> tuple[Path, np.ndarray]:
    """The ONNX conversion of `pth` and the reference input, after checking ONNX Runtime agrees with PyTorch."""
    onnx_file, reference = workdir / f"{pth.stem}.onnx", workdir / f"{pth.stem}.reference.npz"
    command = [torch_python, str(CONVERTER), "--pth", str(pth), "--onnx", str(onnx_file), "--reference", str(reference)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ValueError(f"cannot run the conversion with {torch_python}: {exc.strerror}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        if not lines:
            raise ValueError(f"the conversion of {pth.name} failed (exit {done.returncode})")
        raise ValueError(lines[-1].removeprefix("minifasnet_torch: "))
    _check_interface(onnx_file, 80, 3)
    with np.load(reference) as saved:
        inputs, expected = saved["input"], saved["output"]
    got = _session(onnx_file).run(None, {"input": inputs})[0]
    if not np.allclose(got, expected, atol=CONVERSION_TOLERANCE, rtol=0):
        raise ValueError(f"{pth.name}: ONNX Runtime differs from PyTorch by {np.abs(got - expected).max():.2g}")
    return onnx_file, inputs[:1]


def _card(onnx_file: Path, known: Known | None, **fields: Any) -> Any:
    from appliance.runtime import ModelCard, ModelFile

    sha, size = _sha256(onnx_file)
    return ModelCard(
        name=fields.get("name") or (known.name if known else "minifasnet-local"),
        version=fields.get("version") or known.version,  # type: ignore[union-attr]
        task="presentation_attack",
        runtime="onnx",
        files=[ModelFile(name=FILE_NAME, sha256=sha, size_bytes=size)],
        source=fields.get("source") or (known.source if known else "local file"),
        license="Apache-2.0",
        description=known.description if known else "MiniFASNet passive anti-spoofing (local file)",
        params=dict(known.params) if known else fields["params"],
    )


def prepare(weights: Path, workdir: Path, *, torch_python: str | None = None, **fields: Any) -> Prepared:
    """Recognise, convert if needed and describe one published file. `fields` may set name, version,
    source and, for an unknown .pth, `crop_scale`."""
    weights = Path(weights)
    sha, _ = _sha256(weights)
    known = KNOWN.get(sha)
    if known is None and not fields.get("version"):
        raise ValueError(f"{weights.name} (sha256 {sha[:12]}) is not a known published file: give --version")
    form = known.form if known else ("pth" if weights.suffix == ".pth" else "onnx")
    if form == "pth":
        onnx_file, canary = _convert(weights, workdir, torch_python or _default_torch_python())
        if known is None:
            fields["params"] = silent_face_params(float(fields.get("crop_scale") or 2.7))
    else:
        _check_interface(weights, 128, 2)
        onnx_file, canary = weights, np.random.default_rng(1).uniform(0, 1, (1, 3, 128, 128)).astype(np.float32)
        if known is None:
            fields["params"] = onnx_params()
    return Prepared(onnx_file, _card(onnx_file, known, **fields), canary)


def build_card(weights: Path, **fields: Any) -> Any:
    """The model card for a published file (an `appliance.runtime.ModelCard`)."""
    with tempfile.TemporaryDirectory(prefix="minifasnet-") as tmp:
        return prepare(weights, Path(tmp), **fields).card


def install(weights: Path, store_root: Path, *, activate: bool = True, **fields: Any) -> Any:
    """Install one published file into the model store at `store_root`; returns the card."""
    return _install_all([Path(weights)], Path(store_root), activate=activate, **fields)[0].card


def _install_all(files: list[Path], store_root: Path, *, activate: bool, **fields: Any) -> list[Prepared]:
    from appliance.runtime import ModelStore

    with tempfile.TemporaryDirectory(prefix="minifasnet-") as tmp:
        prepared = [prepare(f, Path(tmp), **fields) for f in files]  # all converted and checked before any install
        store = ModelStore(store_root)
        for item in prepared:
            store.install(item.card, {FILE_NAME: item.onnx}, activate=activate)
    return prepared


def _tool(name: str) -> str:
    """A console script of this Python's environment, else from PATH."""
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else name


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise ValueError(lines[-1] if lines else f"{command[0]} {command[1]} failed (exit {done.returncode})")
    return done.stdout


def build_bundle(
    store_root: Path,
    prepared: list[Prepared],
    out: Path,
    *,
    bundle_id: str,
    version: int,
    keys: list[Path],
    issued_at: str | None = None,
) -> None:
    """A signed bundle of the store directory `store_root` (it must hold only the bundle's models), each
    model with its canary, signed with every key. With `issued_at` (ISO 8601) the same inputs give the
    same bytes; without it the bundle says it was issued now."""
    with tempfile.TemporaryDirectory(prefix="minifasnet-canary-") as tmp:
        build = [_tool("appliance-update"), "build", str(store_root), "--out", str(out), "--id", bundle_id]
        build += ["--version", str(version)]
        if issued_at:
            build += ["--issued-at", issued_at]
        for item in prepared:
            inputs = Path(tmp) / f"{item.card.name}.npy"
            np.save(inputs, item.canary_input)
            canary = Path(tmp) / f"{item.card.name}.json"
            make = [_tool("appliance"), "models", "canary-make", item.card.name, "--root", str(store_root)]
            _run([*make, "--input", str(inputs), "--atol", "0.001", "--out", str(canary)])
            build += ["--canary", f"{item.card.name}={canary}"]
        _run(build)
    for key in keys:
        _run([_tool("appliance-update"), "sign", str(out), "--key", str(key)])


def _default_torch_python() -> str:
    """$APPLIANCE_TORCH_PYTHON, else the repository's .venv-convert (scripts/setup-convert), else this Python."""
    made = Path(__file__).resolve().parents[2] / ".venv-convert" / "bin" / "python"
    return os.environ.get("APPLIANCE_TORCH_PYTHON") or (str(made) if made.exists() else sys.executable)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install MiniFASNet anti-spoofing models into a model store.")
    parser.add_argument("--pth", type=Path, action="append", default=[], help="Silent-Face weights (repeatable)")
    parser.add_argument("--onnx", type=Path, action="append", default=[], help="a published ONNX file (repeatable)")
    parser.add_argument("--store", type=Path, required=True, help="the model store root (or an empty bundle directory)")
    parser.add_argument(
        "--torch-python", help="a Python with PyTorch for .pth files (default: $APPLIANCE_TORCH_PYTHON)"
    )
    parser.add_argument("--name", help="model name (default: the published name of a known file)")
    parser.add_argument("--version", help="model version, PEP 440 (required for a file that is not a known one)")
    parser.add_argument("--source", help="where the file came from (default: the published URL of a known file)")
    parser.add_argument("--crop-scale", type=float, help="an unknown .pth's crop scale (its file name's prefix)")
    parser.add_argument("--activate", action="store_true", help="make these versions the active ones")
    parser.add_argument("--bundle", type=Path, help="also build a signed bundle of --store here")
    parser.add_argument("--bundle-id", default="minifasnet")
    parser.add_argument("--bundle-version", type=int, default=1, help="an integer that only grows")
    parser.add_argument("--key", type=Path, action="append", default=[], help="a signing key (repeatable)")
    args = parser.parse_args(argv)
    files = args.pth + args.onnx
    if not files:
        parser.error("give at least one --pth or --onnx file")
    if args.bundle and not args.key:
        parser.error("--bundle needs at least one --key")
    fields = {"name": args.name, "version": args.version, "source": args.source, "crop_scale": args.crop_scale}
    try:
        prepared = _install_all(
            files, args.store, activate=args.activate or bool(args.bundle), torch_python=args.torch_python, **fields
        )
        if args.bundle:
            build_bundle(
                args.store, prepared, args.bundle, bundle_id=args.bundle_id, version=args.bundle_version, keys=args.key
            )
    except (ValueError, OSError) as exc:
        print(f"minifasnet: {exc}", file=sys.stderr)
        return 1
    for item in prepared:
        state = "active" if args.activate or args.bundle else "installed, not active"
        print(f"{item.card.name} {item.card.version} ({item.card.sha256[:12]}) -> {args.store} [{state}]")
    if args.bundle:
        print(json.dumps({"bundle": str(args.bundle), "models": [p.card.name for p in prepared]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
