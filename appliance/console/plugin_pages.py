"""The pages plugins add to the console (`register_console_pages`, appliance.sdk.console).

Each page is mounted on a router of its own, at the paths its handlers name (under /console/),
with what the console's own pages have: the session (`visit`), the CSRF guard and the error pages,
plus its plugin's services (`plugin`). Its `visit` refuses a signed-in user whose role the page
does not list, as the navigation does not show it to them.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Router
from litestar.di import NamedDependency, Provide
from litestar.params import SkipValidation

from appliance.console.session import CurrentSite, Visit, provide_visit
from appliance.core.providers import Services, plugin_dependency
from appliance.domain.errors import AppError, ErrorCode
from appliance.sdk.registry import ConsolePage

__all__ = ["plugin_page_router"]


def provide_page_visit(
    request: Request,
    services: Services,
    console_site: CurrentSite,
    console_page: NamedDependency[SkipValidation[ConsolePage]],
) -> Visit:
    """Dependency `visit` of a plugin's page: as on the console's own pages, and AUTH_FORBIDDEN
    for a signed-in user whose role the page does not list."""
    visit = provide_visit(request, services, console_site)
    if visit.user is not None and visit.user.user_type not in console_page.roles:
        raise AppError(ErrorCode.AUTH_FORBIDDEN, f"the page {console_page.title} is not open to {visit.user.user_type}")
    return visit


def plugin_page_router(plugin: str, page: ConsolePage, options: dict[str, Any]) -> Router:
    """The router of one plugin page, with the console's `options` (guards, error pages, dependencies)."""

    def provide_console_page() -> ConsolePage:
        return page

    dependencies = {
        **options["dependencies"],
        "console_page": Provide(provide_console_page, sync_to_thread=False),
        "visit": Provide(provide_page_visit, sync_to_thread=True),
        "plugin": plugin_dependency(plugin),
    }
    return Router(path="/", route_handlers=list(page.handlers), **{**options, "dependencies": dependencies})
