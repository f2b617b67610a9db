"""Errors of the model store and the model runtimes.

They are ValueErrors, so that the CLI's `user_errors` prints them as one line; every message names
the model, its version and, where one is at fault, the file.
"""

from __future__ import annotations

__all__ = ["ModelError", "ModelIntegrityError", "ModelNotFoundError", "RuntimeUnavailableError"]


class ModelError(ValueError):
    """A model store or model runtime problem a person can act on."""


class ModelNotFoundError(ModelError):
    """No such model, version or active version in the store."""


class ModelIntegrityError(ModelError):
    """A model file is missing, or its size or sha256 differs from its card."""


class RuntimeUnavailableError(ModelError):
    """The Python package a model's runtime needs is not installed."""
