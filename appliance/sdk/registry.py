"""What plugins register: analysis types in `register_analyzers`, API routes in `register_routes`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from appliance.sdk.types import AnalyzerSpec

__all__ = ["AnalyzerRegistry", "PluginError", "RouteRegistry"]

#: Where every plugin route lives, so that plugins never shadow the pages outside the API.
ROUTE_PREFIX = "/api/"


class PluginError(Exception):
    """A plugin could not be loaded or registered; the message names the plugin."""


class AnalyzerRegistry:
    """Analysis types by their upper-case name.

    The host wraps each plugin's `register_analyzers` call in `registering(name, version)`, so
    every spec records the plugin and the plugin version that offers it. Outside such a block
    (a test registering by hand) a spec keeps the `plugin` and `plugin_version` it was given.
    """

    def __init__(self) -> None:
        self._specs: dict[str, AnalyzerSpec] = {}
        self._current: tuple[str, str] | None = None

    @contextmanager
    def registering(self, plugin: str, version: str) -> Iterator[None]:
        """Attribute the registrations made inside the block to `plugin` at `version`."""
        previous, self._current = self._current, (plugin, version)
        try:
            yield
        finally:
            self._current = previous

    def register(self, spec: AnalyzerSpec) -> None:
        """Offer `spec.type`. Raises PluginError if it is malformed or already offered."""
        name = spec.type.strip().upper()
        if self._current is not None:
            spec = replace(spec, plugin=self._current[0], plugin_version=self._current[1])
        who = _describe(spec)
        if not name:
            raise PluginError(f"{who} registered an analyzer with an empty type")
        if not callable(getattr(spec.analyzer, "analyze", None)):
            raise PluginError(f"{who} registered {name} with an analyzer that has no analyze(request, ctx) method")
        existing = self._specs.get(name)
        if existing is not None:
            raise PluginError(f"analysis type {name} is offered twice: by {_describe(existing)} and by {who}")
        self._specs[name] = replace(spec, type=name)

    def get(self, type: str) -> AnalyzerSpec | None:
        """The spec of analysis type `type`, matched case-insensitively; None if no plugin offers it."""
        return self._specs.get(type.strip().upper())

    def types(self) -> list[str]:
        """The registered analysis types, upper-case, sorted."""
        return sorted(self._specs)

    def specs(self) -> list[AnalyzerSpec]:
        """The registered specs, sorted by type."""
        return [self._specs[name] for name in self.types()]

    def known_tags(self) -> frozenset[str]:
        """The extra media tags the registered analyzers understand, beyond the Oz ones."""
        return frozenset().union(*(spec.tags for spec in self._specs.values()))


def _describe(spec: AnalyzerSpec) -> str:
    if not spec.plugin:
        return "an unnamed plugin"
    return f"plugin {spec.plugin} {spec.plugin_version}".rstrip()


class RouteRegistry:
    """The API routes one plugin adds in `register_routes(routes)`: Litestar controllers or
    route handlers, kept in the order given. The API mounts them with that plugin's services."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self._handlers: list[Any] = []

    def add(self, handler: Any) -> None:
        """Add a controller class or a route handler; every path it serves must start with `/api/`."""
        for path in _paths_of(handler):
            if not path.startswith(ROUTE_PREFIX):
                raise PluginError(
                    f"plugin {self.plugin} added the route {path!r}: plugin routes start with {ROUTE_PREFIX}"
                )
        self._handlers.append(handler)

    @property
    def handlers(self) -> tuple[Any, ...]:
        return tuple(self._handlers)


def _paths_of(handler: Any) -> list[str]:
    """The paths a controller class (its `path` joined with each handler's) or a handler serves."""
    own = getattr(handler, "paths", None)
    if own is not None:  # a route handler
        return sorted(own)
    base = str(getattr(handler, "path", ""))
    if not base:
        raise PluginError(f"{handler!r} is neither a Litestar controller with a path nor a route handler")
    return [base]
