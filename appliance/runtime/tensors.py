"""What the runtimes say about a model's inputs and outputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["TensorInfo"]


@dataclass(frozen=True)
class TensorInfo:
    """One input or output of a model. A dimension is None (or a symbolic name) where it is dynamic."""

    name: str
    shape: tuple[int | str | None, ...]
    dtype: np.dtype | None
