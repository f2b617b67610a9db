"""Canaries: run golden inputs through models of a store and compare with expected outputs.

The updater (which imports nothing of the appliance) runs `appliance models canary --root DIR
--manifest FILE` before switching to a bundle's models and again after the switch; this module is
what that command does. The canary format is the bundle manifest's (docs/updater.md, "Canaries"):

    {"input": "builtin:gray" | "builtin:noise:<seed>" | "npz:<base64 of an .npz>",
     "expected": {"outputs": [{"shape": [...], "stride": k, "values": [...]}, ...]},
     "tolerance": <atol>, "rtol": <rtol, optional, default 0>}

`values` are the output's elements (as float64, flattened in C order) at every `stride`-th index;
an output matches when its shape is the same and every value is within `atol + rtol * |expected|`.
A model without canaries (or every active model when no manifest is given) is loaded and run once
on a gray input, and its outputs must be finite.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from appliance_modelstore.store import ModelStore

from appliance.runtime.dlib_models import DlibModel
from appliance.runtime.errors import ModelError
from appliance.runtime.loader import LoadedModel, ModelRuntime

__all__ = ["CanaryResult", "make_canary", "model_inputs", "run_canaries", "run_model", "summarize"]

#: At most this many values of each output are kept in an expected output.
MAX_VALUES = 256
#: The image dlib canaries run on when the input is built in (RGB uint8).
DLIB_IMAGE = (150, 150)
#: A synthetic 5-point shape (dlib's sp5 order: right eye corners, left eye corners, nose) as image fractions.
DLIB_POINTS = ((0.70, 0.38), (0.58, 0.38), (0.30, 0.38), (0.42, 0.38), (0.50, 0.65))


@dataclass(frozen=True)
class CanaryResult:
    name: str
    version: str | None
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL'} {self.name} {self.version or '-'}: {self.detail}"


def _fill(shape: tuple[int, ...], dtype: np.dtype, spec: str) -> np.ndarray:
    dtype = np.dtype(dtype)
    if spec == "builtin:gray":
        if dtype.kind == "f":
            return np.full(shape, 0.5, dtype=dtype)
        return np.full(shape, 128 if dtype == np.uint8 else 0, dtype=dtype)
    if spec.startswith("builtin:noise:"):
        try:
            rng = np.random.default_rng(int(spec.rsplit(":", 1)[1]))
        except ValueError:
            raise ModelError(f"canary input {spec!r}: the seed must be an integer") from None
        if dtype.kind == "f":
            return rng.random(shape).astype(dtype)
        if dtype == np.uint8:
            return rng.integers(0, 256, shape).astype(dtype)
        return np.zeros(shape, dtype=dtype)
    raise ModelError(f"canary input {spec!r}: unknown (builtin:gray, builtin:noise:<seed> or npz:<base64>)")


def _npz(spec: str) -> list[np.ndarray]:
    try:
        with np.load(io.BytesIO(base64.b64decode(spec[4:], validate=True)), allow_pickle=False) as npz:
            return [npz[k] for k in sorted(npz.files, key=lambda k: int(k.split("_")[-1]))]
    except (ValueError, OSError) as exc:
        raise ModelError(f"canary input npz: unreadable: {exc}") from None


def encode_npz(arrays: list[np.ndarray]) -> str:
    """An `npz:` canary input from arrays (one per model input, in order)."""
    buf = io.BytesIO()
    np.savez_compressed(buf, *arrays)
    return "npz:" + base64.b64encode(buf.getvalue()).decode("ascii")


def model_inputs(model: LoadedModel, spec: str) -> list[np.ndarray]:
    """The input arrays of a canary input spec for this model."""
    if spec.startswith("npz:"):
        return _npz(spec)
    if isinstance(model.handle, DlibModel):
        return [_fill((*DLIB_IMAGE, 3), np.dtype(np.uint8), spec)]
    arrays = []
    for info in model.inputs:
        shape = tuple(d if isinstance(d, int) and d > 0 else 1 for d in info.shape)
        arrays.append(_fill(shape, info.dtype if info.dtype is not None else np.dtype(np.float32), spec))
    return arrays


def run_model(model: LoadedModel, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Run a model once; dlib models take one RGB uint8 image (the shape is the whole image / DLIB_POINTS)."""
    handle = model.handle
    if not isinstance(handle, DlibModel):
        return [np.asarray(o) for o in model.invoke(inputs)]
    import dlib

    if len(inputs) != 1 or inputs[0].ndim != 3:
        raise ModelError(f"model {model.name}: a dlib canary input is one HxWx3 uint8 image")
    image = np.ascontiguousarray(inputs[0], dtype=np.uint8)
    h, w = image.shape[:2]
    rect = dlib.rectangle(0, 0, w - 1, h - 1)
    if handle.task == "face_shape_predictor":
        shape = handle.shape(image, rect)
        return [np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)]
    points = dlib.points([dlib.point(round(fx * (w - 1)), round(fy * (h - 1))) for fx, fy in DLIB_POINTS])
    return [handle.descriptor(image, dlib.full_object_detection(rect, points))]


def summarize(outputs: list[np.ndarray], max_values: int = MAX_VALUES) -> dict[str, Any]:
    """The `expected` of a canary from a model's outputs."""
    out = []
    for array in outputs:
        flat = np.asarray(array, dtype=np.float64).ravel()
        stride = max(1, math.ceil(flat.size / max_values))
        out.append({"shape": list(array.shape), "stride": stride, "values": [float(v) for v in flat[::stride]]})
    return {"outputs": out}


def compare(outputs: list[np.ndarray], expected: Any, atol: float, rtol: float) -> str | None:
    """None when the outputs match `expected`, else why not."""
    if not isinstance(expected, dict) or not isinstance(expected.get("outputs"), list):
        return "the expected output is not {'outputs': [...]}"
    wanted = expected["outputs"]
    if len(wanted) != len(outputs):
        return f"{len(outputs)} outputs, {len(wanted)} expected"
    for i, (array, want) in enumerate(zip(outputs, wanted, strict=True)):
        try:
            shape, stride, values = list(want["shape"]), int(want.get("stride", 1)), want["values"]
            values = np.asarray(values, dtype=np.float64)
        except (KeyError, TypeError, ValueError):
            return f"output {i}: the expected output is malformed"
        if list(array.shape) != shape:
            return f"output {i}: shape {list(array.shape)}, expected {shape}"
        got = np.asarray(array, dtype=np.float64).ravel()[:: max(stride, 1)]
        if got.shape != values.shape:
            return f"output {i}: {got.size} values, {values.size} expected"
        if not np.allclose(got, values, atol=atol, rtol=rtol, equal_nan=False):
            diff = np.abs(got - values)
            worst = int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)))
            return (
                f"output {i} differs: value {worst * max(stride, 1)} is {got[worst]:.6g}, expected {values[worst]:.6g} "
                f"(atol {atol:g}, rtol {rtol:g})"
            )
    return None


def _check_model(runtime: ModelRuntime, name: str, version: str | None, canaries: list[Any]) -> CanaryResult:
    try:
        model = runtime.get(name)
    except (ModelError, OSError, ValueError) as exc:
        return CanaryResult(name, version, False, f"cannot load: {exc}")
    if version is not None and model.version != version:
        return CanaryResult(
            name, version, False, f"the active version is {model.version}, the manifest lists {version}"
        )
    try:
        if not canaries:
            outputs = run_model(model, model_inputs(model, "builtin:gray"))
            if not all(np.all(np.isfinite(np.asarray(o, dtype=np.float64))) for o in outputs):
                return CanaryResult(name, model.version, False, "a gray input gives non-finite outputs")
            return CanaryResult(name, model.version, True, "loaded and ran (no canaries)")
        for n, canary in enumerate(canaries, start=1):
            if not isinstance(canary, dict) or not isinstance(canary.get("input"), str):
                return CanaryResult(name, model.version, False, f"canary {n}: malformed")
            spec = canary["input"]
            outputs = run_model(model, model_inputs(model, spec))
            why = compare(
                outputs, canary.get("expected"), float(canary.get("tolerance", 0.0)), float(canary.get("rtol", 0.0))
            )
            if why is not None:
                label = spec if len(spec) <= 32 else spec[:29] + "..."
                return CanaryResult(name, model.version, False, f"canary {n} ({label}): {why}")
    except (ModelError, ValueError, RuntimeError, TypeError) as exc:
        return CanaryResult(name, model.version, False, f"cannot run: {exc}")
    return CanaryResult(
        name, model.version, True, f"{len(canaries)} canar{'y' if len(canaries) == 1 else 'ies'} passed"
    )


def run_canaries(store: ModelStore, manifest: dict[str, Any] | None = None) -> list[CanaryResult]:
    """One result per model: the manifest's models (at the versions it lists), or every active model."""
    runtime = ModelRuntime(store)
    if manifest is None:
        return [_check_model(runtime, name, None, []) for name in store.names() if store.active_version(name)]
    models = manifest.get("models") if isinstance(manifest, dict) else None
    if not isinstance(models, list) or not models:
        raise ModelError("the manifest lists no models")
    results = []
    for m in models:
        if not isinstance(m, dict) or not isinstance(m.get("name"), str):
            raise ModelError("the manifest lists a model without a name")
        results.append(_check_model(runtime, m["name"], m.get("version"), list(m.get("canaries") or [])))
    return results


def make_canary(
    store: ModelStore, name: str, spec: str = "builtin:noise:1", atol: float = 1e-4, rtol: float = 0.0
) -> dict[str, Any]:
    """A canary for the active version of `name`: its outputs on `spec`, computed here (the vendor's machine)."""
    model = ModelRuntime(store).get(name)
    outputs = run_model(model, model_inputs(model, spec))
    return {"input": spec, "expected": summarize(outputs), "tolerance": atol, "rtol": rtol}
