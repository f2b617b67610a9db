"""The ONNX Runtime runtime (optional: the `onnx` extra). One InferenceSession serves every thread.

onnxruntime is imported only when an onnx model is loaded, so that an appliance without the
extra runs every other model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.runtime.errors import ModelError, RuntimeUnavailableError
from appliance.runtime.tensors import TensorInfo

__all__ = ["INSTALL_HINT", "OnnxModel"]

INSTALL_HINT = "pip install 'liveness-appliance[onnx]'"

_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


class OnnxModel:
    runtime = "onnx"

    def __init__(self, path: Path, *, threads: int = 1, label: str = "") -> None:
        self.path = path
        self.threads = threads
        self.label = label or path.name
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeUnavailableError(
                f"model {self.label} needs ONNX Runtime, which is not installed: "
                f"install the onnx extra ({INSTALL_HINT})"
            ) from None
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3  # errors only
        try:
            self.session = ort.InferenceSession(
                path.read_bytes(), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 (onnxruntime raises its own exception types)
            raise ModelError(f"model {self.label}: ONNX Runtime cannot load it: {exc}") from None
        self.inputs = [_info(i) for i in self.session.get_inputs()]
        self.outputs = [_info(o) for o in self.session.get_outputs()]

    def run(self, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
        """Run with inputs by name; returns every output in order."""
        return list(self.session.run(None, dict(feeds)))

    def invoke(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run with one array per input, in order (converted to the input's dtype); returns every output."""
        if len(inputs) != len(self.inputs):
            raise ValueError(f"model {self.label} takes {len(self.inputs)} inputs, got {len(inputs)}")
        feeds = {
            info.name: np.ascontiguousarray(array, dtype=info.dtype) if info.dtype is not None else array
            for info, array in zip(self.inputs, inputs, strict=True)
        }
        return self.run(feeds)


def _info(arg: Any) -> TensorInfo:
    shape = tuple(d if isinstance(d, int) else (d or None) for d in arg.shape)
    dtype = _DTYPES.get(arg.type)
    return TensorInfo(name=arg.name, shape=shape, dtype=np.dtype(dtype) if dtype is not None else None)
