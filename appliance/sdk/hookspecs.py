"""The hooks a plugin may implement: the whole contract between the appliance and its plugins.

A plugin is a module (or any object) with functions marked `@hookimpl` and named like a hook
below. The appliance calls each hook once per plugin; docs/writing-plugins.md shows every hook
with an example, and a test keeps that page and this module in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable
    from pathlib import Path

    from appliance.sdk.background import BackgroundWork
    from appliance.sdk.registry import AnalyzerRegistry, ConsolePageRegistry, RouteRegistry
    from appliance.sdk.types import DoctorCheck

__all__ = [
    "PROJECT_NAME",
    "background_work",
    "database_migrations",
    "doctor_checks",
    "hookimpl",
    "hookspec",
    "register_analyzers",
    "register_console_pages",
    "register_routes",
]

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


@hookspec
def doctor_checks() -> list[DoctorCheck]:
    """Checks of what this plugin needs, for `appliance doctor`: return a list of `DoctorCheck`.

    Called only by `appliance doctor`, after every plugin was registered, never while the appliance
    serves. Each check is shown as `<plugin>: <name>`; `fail` makes the doctor exit 1, `warn` does
    not. Keep it quick and read-only (a model present, a licence file readable); an exception is
    shown as a failed check of this plugin.
    """


@hookspec
def register_routes(routes: RouteRegistry) -> None:
    """Add API routes this plugin owns: call `routes.add(handler)` with Litestar controllers or
    route handlers (paths under `/api/`).

    Called once per plugin when the API app is built. The handlers run inside the appliance's
    API: they ask for the caller with `user: CurrentUser`, for this plugin's services with
    `plugin: PluginDependency` (`appliance.sdk.web`), and raise `AppError` for a refusal, which
    the API answers like its own errors. A path another route already serves stops the API at start.
    """


@hookspec
def register_console_pages(pages: ConsolePageRegistry) -> None:
    """Add pages to the operator console: call `pages.add(ConsolePage(...))` with a navigation
    title, a path under `/console/`, the roles that see it, its Litestar handlers and its templates.

    Called once per plugin when the API app is built, and only when the console is enabled. The
    handlers run inside the console (`appliance.sdk.console`): they ask for the signed-in user with
    `visit: CurrentVisit` (the console's session cookie, never an API token), for this plugin's
    services with `plugin: PluginDependency`, and answer with `render(visit, template, context)`,
    whose templates extend the console's `base.html`. Every POST must carry the CSRF token
    (`{{ csrf(visit) }}`); the console refuses one without it before the handler runs.
    """


@hookspec
def database_migrations() -> Path | Traversable:
    """The folder of this plugin's SQL migrations: `<folder>/sqlite/NNNN_name.sql` and
    `<folder>/postgres/NNNN_name.sql`, one file per step and dialect, applied in name order.

    The appliance applies them after its own, wherever it migrates its database (`appliance init`,
    the API at start), each once, under the same lock, and records them as `<plugin>:<NNNN_name>`.
    Tables are the plugin's own: name them with a prefix of the plugin (e.g. `blacklist_`).
    """


@hookspec
def background_work() -> BackgroundWork:
    """Work this plugin does on its own data in the background: return a `BackgroundWork`
    (`appliance.sdk.background`), whose `run(services, deadline)` a maintenance worker calls every
    `scheduler.plugin_work_seconds` and whose `progress(services)` `appliance work` shows.

    Called once per plugin where the work runs. Keep each step short and safe to repeat: the run
    stops at its deadline and goes on at the next one.
    """
