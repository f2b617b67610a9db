"""The LiteRT (TensorFlow Lite) runtime: `ai_edge_litert`, XNNPACK on by default, one interpreter per thread.

A LiteRT interpreter must not be used by two threads at once, so each thread that invokes the
model gets its own, created on its first call. All of them are built from the same bytes, read
once when the model is loaded (after the store verified them).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from appliance.runtime.errors import ModelError
from appliance.runtime.tensors import TensorInfo

__all__ = ["LiteRTModel"]


class LiteRTModel:
    runtime = "litert"

    def __init__(self, path: Path, *, threads: int = 1, xnnpack: bool = True, label: str = "") -> None:
        from ai_edge_litert import interpreter as litert

        self._litert = litert
        self.path = path
        self.threads = threads
        self.xnnpack = xnnpack
        self.label = label or path.name
        self._content = path.read_bytes()
        self._local = threading.local()
        first = self.interpreter()  # a broken model fails here, at load, not in the first task
        self.input_details: list[dict[str, Any]] = first.get_input_details()
        self.output_details: list[dict[str, Any]] = first.get_output_details()
        self.inputs = [_info(d) for d in self.input_details]
        self.outputs = [_info(d) for d in self.output_details]

    def _new_interpreter(self) -> Any:
        options: dict[str, Any] = {"model_content": self._content, "num_threads": self.threads}
        if not self.xnnpack:
            options["experimental_op_resolver_type"] = self._litert.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        try:
            interpreter = self._litert.Interpreter(**options)
            interpreter.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise ModelError(f"model {self.label}: LiteRT cannot load it: {exc}") from None
        return interpreter

    def interpreter(self) -> Any:
        """This thread's interpreter (created on the thread's first call)."""
        interpreter = getattr(self._local, "interpreter", None)
        if interpreter is None:
            interpreter = self._local.interpreter = self._new_interpreter()
        return interpreter

    def invoke(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the model on this thread's interpreter: one array per input, in order; returns copies of the outputs."""
        interpreter = self.interpreter()
        if len(inputs) != len(self.input_details):
            raise ValueError(f"model {self.label} takes {len(self.input_details)} inputs, got {len(inputs)}")
        for detail, array in zip(self.input_details, inputs, strict=True):
            array = np.ascontiguousarray(array, dtype=detail["dtype"])
            expected = tuple(int(d) for d in detail["shape"])
            if array.shape != expected:
                raise ValueError(f"model {self.label}: input {detail['name']} has shape {expected}, got {array.shape}")
            interpreter.set_tensor(detail["index"], array)
        interpreter.invoke()
        return [interpreter.get_tensor(d["index"]) for d in self.output_details]


def _info(detail: dict[str, Any]) -> TensorInfo:
    shape = tuple(None if s < 0 else int(s) for s in detail.get("shape_signature", detail["shape"]))
    return TensorInfo(name=detail["name"], shape=shape, dtype=np.dtype(detail["dtype"]))
