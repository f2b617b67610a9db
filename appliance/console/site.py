"""What one console serves besides its own pages: the pages plugins add (`register_console_pages`)
and the templates that render every page, the console's own and the plugins'."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader, StrictUndefined

from appliance.console.results import flatten
from appliance.domain.entities import User
from appliance.sdk.registry import ConsolePage

__all__ = ["ConsoleSite", "template_environment"]


def _when(value: datetime | str | None) -> str:
    """A time as `2024-03-01 12:00:05 UTC`."""
    if value is None:
        return "–"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _flat(value: Any) -> list[tuple[str, str]]:
    """(dotted key, shown value) of every leaf of a JSON object, as the folder pages show meta_data."""
    return list(flatten(value)) if value else []


def template_environment(plugin_folders: Sequence[Path | Traversable] = ()) -> Environment:
    """The console's templates, then those of `plugin_folders` (the console's names win, so a
    plugin cannot replace `base.html`): autoescaped, an undefined name raises."""
    loaders = [PackageLoader("appliance.console", "templates"), *(FileSystemLoader(str(f)) for f in plugin_folders)]
    environment = Environment(
        loader=ChoiceLoader(loaders),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = _when
    environment.filters["short_id"] = lambda value: str(value)[:8]
    environment.filters["flat"] = _flat
    return environment


@dataclass(frozen=True, slots=True)
class ConsoleSite:
    """The plugins' pages of one console, and the templates of it all."""

    templates: Environment
    plugin_pages: tuple[ConsolePage, ...] = ()

    @classmethod
    def of(cls, plugin_pages: Sequence[ConsolePage]) -> ConsoleSite:
        folders = [page.templates for page in plugin_pages if page.templates is not None]
        return cls(template_environment(folders), tuple(plugin_pages))

    def navigation(self, user: User | None) -> list[ConsolePage]:
        """The plugin pages whose entry the navigation shows `user`."""
        return [page for page in self.plugin_pages if user is not None and user.user_type in page.roles]
