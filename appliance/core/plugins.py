"""The plugin host: finding, loading and asking plugins. The host side of the contract that
`appliance.sdk` declares; plugins never import it.

Plugins come from two places, loaded the same way (built-in plugins are plugins like any other):
installed distributions with an entry point in the group `appliance.plugins`, and dotted module
names listed in the `plugin_modules` setting. Set `APPLIANCE_TRACE_PLUGINS=1` to print every hook
call, with its arguments, implementations and results, to stderr.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pprint import pformat
from typing import Any, TypeVar

import pluggy

from appliance.sdk import hookspecs
from appliance.sdk.background import BackgroundWork
from appliance.sdk.registry import AnalyzerRegistry, ConsolePageRegistry, PluginError, RouteRegistry
from appliance.sdk.types import DoctorCheck

__all__ = [
    "ENTRY_POINT_GROUP",
    "TRACE_ENV",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "PluginSource",
    "load_plugins",
    "start_plugins",
]

ENTRY_POINT_GROUP = "appliance.plugins"
TRACE_ENV = "APPLIANCE_TRACE_PLUGINS"

#: The version a plugin module without `__version__` reports.
UNVERSIONED = "0"

_Registry = TypeVar("_Registry", RouteRegistry, ConsolePageRegistry)


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A loaded plugin: its distribution (or module) name, its version, the types it offers."""

    name: str
    version: str
    analysis_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PluginSource:
    """A plugin object (usually a module) and the name and version its registrations carry."""

    plugin: object
    name: str
    version: str


class PluginHost:
    """The loaded plugins and what they registered."""

    def __init__(
        self, plugin_manager: pluggy.PluginManager, registry: AnalyzerRegistry, sources: Sequence[PluginSource]
    ) -> None:
        self.plugin_manager = plugin_manager
        self.registry = registry
        self._sources = tuple(sources)

    def plugins(self) -> list[PluginInfo]:
        """The loaded plugins in load order (entry points first, then `plugin_modules`)."""
        return [
            PluginInfo(
                name=item.name,
                version=item.version,
                analysis_types=tuple(s.type for s in self.registry.specs() if s.plugin == item.name),
            )
            for item in self._sources
        ]

    def doctor_checks(self) -> list[DoctorCheck]:
        """Every plugin's `doctor_checks()`, each named `<plugin>: <check>`, in load order; a plugin
        whose hook raises or returns something else than DoctorChecks gets one failed check."""
        results = []
        for item in self._sources:
            others = [o.plugin for o in self._sources if o is not item]
            hook = self.plugin_manager.subset_hook_caller("doctor_checks", remove_plugins=others)
            try:
                checks = [check for returned in hook() for check in returned]
                if not all(isinstance(check, DoctorCheck) for check in checks):
                    raise TypeError("doctor_checks must return a list of DoctorCheck")
            except Exception as exc:  # noqa: BLE001  # a plugin's fault is its own failed check, not the doctor's
                results.append(DoctorCheck(item.name, "fail", f"doctor_checks raised {type(exc).__name__}: {exc}"))
                continue
            results += [DoctorCheck(f"{item.name}: {c.name}", c.status, c.detail) for c in checks]
        return results

    def background_work(self) -> list[tuple[str, BackgroundWork]]:
        """Every plugin's `background_work()`, with the plugin's name, in load order."""
        found = []
        for item in self._sources:
            for work in self._hook_of(item, "background_work")():
                found.append((item.name, work))
        return found

    def routes(self) -> list[RouteRegistry]:
        """Every plugin's `register_routes`, one registry per plugin that adds routes, in load order."""
        return [r for r in self._registries("register_routes", "routes", RouteRegistry) if r.handlers]

    def console_pages(self) -> list[ConsolePageRegistry]:
        """Every plugin's `register_console_pages`, one registry per plugin that adds pages, in load order."""
        return [r for r in self._registries("register_console_pages", "pages", ConsolePageRegistry) if r.pages]

    def name_of(self, plugin: object) -> str:
        """The name a loaded plugin object (e.g. its module) is known by: its distribution's, or its
        module's; LookupError when it is not loaded."""
        names = [item.name for item in self._sources if item.plugin is plugin]
        if not names:
            raise LookupError(f"{plugin!r} is not a loaded plugin")
        return names[0]

    def _registries(self, hook_name: str, argument: str, new_registry: Callable[[str], _Registry]) -> list[_Registry]:
        """Call each plugin's `hook_name` with a registry of its own (passed as `argument`), in load order."""
        registries = []
        for item in self._sources:
            registry = new_registry(item.name)
            try:
                self._hook_of(item, hook_name)(**{argument: registry})
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(f"{_describe(item)}: {hook_name} raised {type(exc).__name__}: {exc}") from exc
            registries.append(registry)
        return registries

    def migrations(self, dialect: str) -> list[tuple[str, str]]:
        """`(name, sql)` of every plugin's migrations for `dialect` ("sqlite" or "postgres"), each
        plugin's in file-name order, in load order; named `<plugin>:<file name without .sql>`."""
        steps = []
        for item in self._sources:
            for folder in self._hook_of(item, "database_migrations")():
                directory = folder / dialect
                if not directory.is_dir():
                    raise PluginError(f"{_describe(item)}: its migrations folder has no {dialect}/ folder")
                files = sorted((f for f in directory.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
                steps += [(f"{item.name}:{f.name.removesuffix('.sql')}", f.read_text(encoding="utf-8")) for f in files]
        return steps

    def _hook_of(self, item: PluginSource, hook_name: str) -> Any:
        """The hook `hook_name` of plugin `item` alone."""
        others = [o.plugin for o in self._sources if o is not item]
        return self.plugin_manager.subset_hook_caller(hook_name, remove_plugins=others)


def load_plugins(plugin_modules: Sequence[str] = (), *, entry_points: bool = True) -> PluginHost:
    """Load the `appliance.plugins` entry points (unless `entry_points` is False) and the modules
    named in `plugin_modules`, and collect their analysis types.

    Raises PluginError, naming the plugin, when a plugin cannot be imported, implements a hook
    wrongly, raises in a hook, or offers a type another plugin already offers.
    """
    sources = list(_entry_point_plugins()) if entry_points else []
    for module_name in plugin_modules:
        source = _module_plugin(module_name)
        # A module also installed through an entry point is one plugin, loaded once.
        if all(source.plugin is not s.plugin for s in sources):
            sources.append(source)
    return start_plugins(sources)


def start_plugins(sources: Sequence[PluginSource]) -> PluginHost:
    """Register already loaded plugin objects and call their `register_analyzers` hooks."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    if os.environ.get(TRACE_ENV, "") not in ("", "0"):
        pm.add_hookcall_monitoring(_trace_before, _trace_after)
    for source in sources:
        try:
            pm.register(source.plugin, name=source.name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            raise PluginError(f"{_describe(source)}: {exc}") from exc
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"{_describe(_find(sources, exc.plugin))}: {exc}") from exc

    registry = AnalyzerRegistry()
    for source in sources:
        _call_register_analyzers(pm, registry, source, others=[o.plugin for o in sources if o is not source])
    return PluginHost(pm, registry, sources)


def _entry_point_plugins() -> Iterator[PluginSource]:
    """The plugin of each `appliance.plugins` entry point, named after its distribution.

    A distribution found twice on sys.path counts once, the first one found, as imports do.
    """
    seen: set[str] = set()
    for dist in importlib.metadata.distributions():
        dist_name = dist.metadata["Name"]
        if dist_name in seen:
            continue
        seen.add(dist_name)
        for ep in dist.entry_points:
            if ep.group != ENTRY_POINT_GROUP:
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(
                    f"plugin {dist_name} {dist.version}: entry point {ep.name} = {ep.value} could not be loaded: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            yield PluginSource(plugin, dist_name, dist.version)


def _module_plugin(module_name: str) -> PluginSource:
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise PluginError(
            f"plugin module {module_name} (from plugin_modules) could not be imported: {type(exc).__name__}: {exc}"
        ) from exc
    return PluginSource(module, module_name, str(getattr(module, "__version__", UNVERSIONED)))


def _call_register_analyzers(
    pm: pluggy.PluginManager, registry: AnalyzerRegistry, item: PluginSource, others: Sequence[object]
) -> None:
    """Call one plugin's `register_analyzers`, so that its registrations are attributed to it."""
    hook = pm.subset_hook_caller("register_analyzers", remove_plugins=others)
    with registry.registering(item.name, item.version):
        try:
            hook(registry=registry)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"{_describe(item)}: register_analyzers raised {type(exc).__name__}: {exc}") from exc


def _find(loaded: Sequence[PluginSource], plugin: object) -> PluginSource:
    return next(item for item in loaded if item.plugin is plugin)


def _describe(item: PluginSource) -> str:
    return f"plugin {item.name} {item.version}"


def _trace_before(hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
    print(f"\n{hook_name}:", file=sys.stderr)
    print(pformat(dict(kwargs), width=40, indent=4)[1:-1], file=sys.stderr)
    print("Hook implementations:", file=sys.stderr)
    print(pformat([impl.plugin_name for impl in hook_impls], width=40, indent=4), file=sys.stderr)


def _trace_after(
    outcome: pluggy.Result[Any], hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
) -> None:
    if outcome.exception is not None:
        print(f"Raised: {outcome.exception!r}", file=sys.stderr)
    else:
        print("Results:", file=sys.stderr)
        print(pformat(outcome.get_result(), width=40, indent=4), file=sys.stderr)
