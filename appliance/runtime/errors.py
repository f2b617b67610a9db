"""Errors of the model store and the model runtimes.

They are ValueErrors, so that the CLI's `user_errors` prints them as one line; every message names
the model, its version and, where one is at fault, the file. The store's own are the model store's
(appliance_modelstore); a runtime adds one.
"""

from __future__ import annotations

from appliance_modelstore.errors import ModelError, ModelIntegrityError, ModelNotFoundError

__all__ = ["ModelError", "ModelIntegrityError", "ModelNotFoundError", "RuntimeUnavailableError"]


class RuntimeUnavailableError(ModelError):
    """The Python package a model's runtime needs is not installed."""
