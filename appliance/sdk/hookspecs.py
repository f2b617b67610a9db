"""The hooks a plugin may implement: the whole contract between the appliance and its plugins.

A plugin is a module (or any object) with functions marked `@hookimpl` and named like a hook
below. The appliance calls each hook once per plugin; docs/writing-plugins.md shows every hook
with an example, and a test keeps that page and this module in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from appliance.sdk.registry import AnalyzerRegistry

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec", "register_analyzers"]

#: The pluggy project name: hooks and implementations of other projects are ignored.
PROJECT_NAME = "appliance"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_analyzers(registry: AnalyzerRegistry) -> None:
    """Offer analysis types: call `registry.register(AnalyzerSpec(...))` once per type.

    Called once per plugin when the appliance starts. A plugin may register any number of
    types, each with its analyzer, media rule, default params and extra media tags. It must not
    register a type another plugin already offers (the appliance refuses to start), and should
    do no heavy work here: load models lazily, on the first `analyze`.
    """
