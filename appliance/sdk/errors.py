"""What an analyzer may meet when it asks the appliance for something this process cannot lend."""

from __future__ import annotations

__all__ = ["FaceModelsUnavailable", "PluginServicesUnavailable"]


class FaceModelsUnavailable(RuntimeError):
    """`ctx.faces` was called on a context without face models."""


class PluginServicesUnavailable(RuntimeError):
    """`ctx.services` was asked for where the appliance lends none (the instant mode, which
    writes nothing, or a test that passed no `services=`)."""
