"""The operator web console: server-rendered pages under `/console` (docs/console.md).

Pages log in with the appliance's users (a session cookie, not the API's token header), show
folders within the user's scope, their media and results, take operator decisions, and plot
statistics; plugins add pages of their own (`register_console_pages`, plugin_pages.py). Every
form carries a CSRF token; every page a strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from litestar import Response, Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from appliance.console.auth_pages import console_home, log_in_form, log_out, login_page
from appliance.console.folder_pages import decide, folder_list, folder_page, open_capture, search_folders
from appliance.console.pages import check_csrf, exception_handlers
from appliance.console.plugin_pages import plugin_page_router
from appliance.console.session import provide_visit
from appliance.console.site import ConsoleSite
from appliance.console.statistics_pages import statistics_csv, statistics_page
from appliance.console.system_pages import system_page
from appliance.sdk.registry import ConsolePageRegistry

__all__ = ["console_routers"]

STATIC = Path(__file__).parent / "static"


def _nosniff(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def console_routers(plugin_pages: Sequence[ConsolePageRegistry] = ()) -> list[Router]:
    """Every console route: its own under /console (pages, forms, the static stylesheet and
    script), and the pages plugins add, each on a router of its own (plugin_pages.py)."""
    site = ConsoleSite.of([page for registry in plugin_pages for page in registry.pages])

    def provide_console_site() -> ConsoleSite:
        return site

    options: dict[str, Any] = {
        "dependencies": {
            "console_site": Provide(provide_console_site, sync_to_thread=False),
            "visit": Provide(provide_visit, sync_to_thread=True),
        },
        "guards": [check_csrf],
        "exception_handlers": exception_handlers,
        "include_in_schema": False,
    }
    own = Router(
        path="/console",
        route_handlers=[
            console_home,
            login_page,
            log_in_form,
            log_out,
            folder_list,
            search_folders,
            folder_page,
            decide,
            open_capture,
            statistics_page,
            statistics_csv,
            system_page,
            create_static_files_router(path="/static", directories=[STATIC], after_request=_nosniff),
        ],
        **options,
    )
    plugins = [plugin_page_router(r.plugin, page, options) for r in plugin_pages for page in r.pages]
    return [own, *plugins]
