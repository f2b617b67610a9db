"""Errors of the model store.

They are ValueErrors, so that a command line prints them as one line; every message names the
model, its version and, where one is at fault, the file.
"""

from __future__ import annotations

__all__ = ["ModelError", "ModelIntegrityError", "ModelNotFoundError"]


class ModelError(ValueError):
    """A model store problem a person can act on."""


class ModelNotFoundError(ModelError):
    """No such model, version or active version in the store."""


class ModelIntegrityError(ModelError):
    """A model file is missing, or its size or sha256 differs from its card."""
