"""The operator web console: server-rendered pages under `/console` (docs/console.md).

Pages log in with the appliance's users (a session cookie, not the API's token header), show
folders within the user's scope, their media and results, take operator decisions, and plot
statistics. Every form carries a CSRF token; every page a strict Content-Security-Policy.
"""

from __future__ import annotations

from pathlib import Path

from litestar import Response, Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from appliance.console.auth_pages import console_home, log_in_form, log_out, login_page
from appliance.console.folder_pages import decide, folder_list, folder_page, search_folders
from appliance.console.pages import check_csrf, exception_handlers
from appliance.console.session import provide_visit
from appliance.console.statistics_pages import statistics_csv, statistics_page
from appliance.console.system_pages import system_page

__all__ = ["console_router"]

STATIC = Path(__file__).parent / "static"


def _nosniff(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def console_router() -> Router:
    """Every console route under /console: pages, forms and the static stylesheet and script."""
    return Router(
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
            statistics_page,
            statistics_csv,
            system_page,
            create_static_files_router(path="/static", directories=[STATIC], after_request=_nosniff),
        ],
        dependencies={"visit": Provide(provide_visit, sync_to_thread=True)},
        guards=[check_csrf],
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        include_in_schema=False,
    )
