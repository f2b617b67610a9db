"""Signed offline model updater for the liveness appliance (docs/updater.md).

It writes the model store layout of docs/model-store.md and imports nothing of the appliance.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
