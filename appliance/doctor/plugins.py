"""The plugins check: every plugin loads (entry points and `plugin_modules`) and offers its analysis types."""

from __future__ import annotations

from appliance.core.plugins import load_plugins
from appliance.doctor.context import DoctorContext
from appliance.sdk.registry import PluginError
from appliance.sdk.types import DoctorCheck

__all__ = ["check_plugins"]


def check_plugins(ctx: DoctorContext) -> DoctorCheck:
    try:
        ctx.plugins = load_plugins(ctx.settings.plugin_modules)
    except PluginError as exc:
        return DoctorCheck("plugins", "fail", str(exc))
    loaded = ctx.plugins.plugins()
    if not loaded:
        return DoctorCheck("plugins", "warn", "no plugin is installed: the appliance offers no analysis")
    offered = ", ".join(f"{p.name} {p.version} ({', '.join(p.analysis_types) or 'no types'})" for p in loaded)
    return DoctorCheck("plugins", "ok", offered)
