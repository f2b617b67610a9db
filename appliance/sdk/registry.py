"""What plugins register: analysis types in `register_analyzers`, API routes in `register_routes`,
console pages in `register_console_pages`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from appliance.domain.enums import Role
from appliance.sdk.types import AnalyzerSpec

__all__ = ["AnalyzerRegistry", "ConsolePage", "ConsolePageRegistry", "PluginError", "RouteRegistry"]

#: Where every plugin route lives, so that plugins never shadow the pages outside the API.
ROUTE_PREFIX = "/api/"
#: Where every plugin console page lives.
CONSOLE_PREFIX = "/console/"


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


@dataclass(frozen=True, slots=True)
class ConsolePage:
    """One page a plugin adds to the operator console.

    `title` is its entry in the console's navigation, which links to `path` (under `/console/`).
    `handlers` are Litestar controllers or route handlers, every path of them at or below `path`.
    `roles` are the user types whose navigation lists the page and who may open it (a signed-in
    user of another type is answered 403). `templates` is a folder of Jinja templates, looked up
    after the console's own, so they extend the console's `base.html`.
    """

    title: str
    path: str
    handlers: Sequence[Any]
    roles: frozenset[Role] = frozenset(Role)
    templates: Path | Traversable | None = None


class ConsolePageRegistry:
    """The console pages one plugin adds in `register_console_pages(pages)`, in the order given.
    The console mounts each with its session, CSRF guard and error pages, and that plugin's services."""

    def __init__(self, plugin: str) -> None:
        self.plugin = plugin
        self._pages: list[ConsolePage] = []

    def add(self, page: ConsolePage) -> None:
        """Add a page; raises PluginError when its path, handlers, roles or templates are malformed."""
        who = f"plugin {self.plugin}: console page {page.title!r}"
        if not page.title.strip():
            raise PluginError(f"plugin {self.plugin} added a console page without a title")
        if not page.path.startswith(CONSOLE_PREFIX) or page.path.endswith("/"):
            raise PluginError(f"{who} has the path {page.path!r}: a page path is /console/<name>, without a final /")
        for path in (p for handler in page.handlers for p in _paths_of(handler)):
            if path != page.path and not path.startswith(f"{page.path}/"):
                raise PluginError(f"{who} serves {path!r}: its handlers serve {page.path} and the paths below it")
        if not page.handlers:
            raise PluginError(f"{who} has no handlers")
        if not page.roles or not all(isinstance(role, Role) for role in page.roles):
            raise PluginError(f"{who}: roles must be a non-empty set of Role")
        if page.templates is not None and not page.templates.is_dir():
            raise PluginError(f"{who}: its templates folder {page.templates} is not a folder")
        if any(other.path == page.path for other in self._pages):
            raise PluginError(f"{who}: the plugin already added a page at {page.path}")
        self._pages.append(page)

    @property
    def pages(self) -> tuple[ConsolePage, ...]:
        return tuple(self._pages)


def _paths_of(handler: Any) -> list[str]:
    """The paths a controller class (its `path` joined with each handler's) or a handler serves."""
    own = getattr(handler, "paths", None)
    if own is not None:  # a route handler
        return sorted(own)
    base = str(getattr(handler, "path", ""))
    if not base:
        raise PluginError(f"{handler!r} is neither a Litestar controller with a path nor a route handler")
    return [base]
