"""The API's documentation page renders with no internet: Chromium loads /docs with every request
outside the appliance blocked, and the page shows the API's operations."""

from __future__ import annotations

import pytest
from playwright.sync_api import Route

from tests.console.browser import chromium
from tests.console.conftest import ConsoleWorld

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("path", ["/docs", "/docs/swagger"])
def test_the_api_docs_render_offline(world: ConsoleWorld, path: str) -> None:
    origin = world.live.base_url
    outside: list[str] = []

    def only_the_appliance(route: Route) -> None:
        if route.request.url.startswith(f"{origin}/"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort("internetdisconnected")

    with chromium() as browser:
        page = browser.new_page()
        page.route("**/*", only_the_appliance)
        page.goto(f"{origin}{path}")
        # Swagger UI drew the operations from the served OpenAPI document
        page.locator(".opblock-summary-path", has_text="/api/folders/{folder_id}/analyses").first.wait_for(
            timeout=30_000
        )
        assert page.locator(".opblock").count() > 40
        page.close()
    assert outside == []
