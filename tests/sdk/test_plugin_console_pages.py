"""The hook that lets a plugin add console pages, with the pages test plugin
(tests/plugins/pages_plugin.py): the registry's checks, and its page over real HTTP in a running
console, with the console's session, navigation, layout, headers, CSRF guard and the page's roles."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import get

from appliance.core.plugins import PluginSource, start_plugins
from appliance.sdk import PluginError
from appliance.sdk.console import ConsolePage, ConsolePageRegistry
from appliance.sdk.testing import ApplianceServer, ConsoleVisitor
from tests.plugins import pages_plugin

PAGE = pages_plugin.PATH
NAV_ENTRY = re.compile(r'<a href="/console/greeting"\s*(aria-current="page")?\s*>Greeting</a>')


@get("/console/elsewhere", sync_to_thread=False)
def stray() -> str:
    return ""


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"path": "/greeting"}, "a page path is /console/<name>"),
        ({"path": "/console/greeting/"}, "a page path is /console/<name>"),
        ({"handlers": [*pages_plugin.GREETING.handlers, stray]}, "serves '/console/elsewhere'"),
        ({"handlers": []}, "has no handlers"),
        ({"roles": frozenset()}, "roles must be a non-empty set of Role"),
        ({"templates": Path(__file__).parent / "no-such-folder"}, "is not a folder"),
        ({"title": " "}, "without a title"),
    ],
)
def test_a_malformed_page_is_refused(changes: dict[str, object], message: str) -> None:
    fields = {
        name: getattr(pages_plugin.GREETING, name) for name in ("title", "path", "handlers", "roles", "templates")
    }
    with pytest.raises(PluginError, match=re.escape(message)):
        ConsolePageRegistry("stray").add(ConsolePage(**{**fields, **changes}))  # type: ignore[arg-type]


def test_a_plugin_adds_a_path_once() -> None:
    registry = ConsolePageRegistry("twice")
    registry.add(pages_plugin.GREETING)
    with pytest.raises(PluginError, match="already added a page at /console/greeting"):
        registry.add(pages_plugin.GREETING)


def test_the_host_collects_the_pages_of_each_plugin() -> None:
    host = start_plugins([PluginSource(pages_plugin, "pages", "1.0")])
    (registry,) = host.console_pages()
    assert (registry.plugin, registry.pages) == ("pages", (pages_plugin.GREETING,))
    assert host.name_of(pages_plugin) == "pages"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApplianceServer]:
    with ApplianceServer(pages_plugin, tmp_path_factory.mktemp("appliance")) as server:
        yield server


def test_hook_register_console_pages(server: ApplianceServer) -> None:
    admin = server.console(server.create_user("ADMIN"))
    page = admin.get(PAGE)
    assert page.status_code == 200, page.text
    assert NAV_ENTRY.search(page.text).group(1) == 'aria-current="page"'  # type: ignore[union-attr]
    assert '<form class="who" method="post" action="/console/logout">' in page.text  # inside base.html
    assert "Hello admin-" in page.text and "the services of tests.plugins.pages_plugin" in page.text
    console_page = admin.get("/console/folders")
    for header in ("Content-Security-Policy", "Cache-Control", "X-Frame-Options", "Referrer-Policy"):
        assert page.headers[header] == console_page.headers[header]
    assert NAV_ENTRY.search(console_page.text).group(1) is None  # type: ignore[union-attr]

    answer = admin.post(PAGE, {"words": "good morning"}, files={"attachment": ("note.txt", b"hi", "text/plain")})
    assert answer.status_code == 200, answer.text
    assert "You said good morning, and sent note.txt" in answer.text

    operator = server.console(server.create_user("OPERATOR"))
    assert operator.get(PAGE).status_code == 200


def test_a_post_without_the_csrf_token_is_refused(server: ApplianceServer) -> None:
    admin = server.console(server.create_user("ADMIN"))
    refused = admin.post(PAGE, {"words": "forged"}, files={"attachment": ("note.txt", b"hi", "text/plain")}, csrf=False)
    assert (refused.status_code, refused.headers["X-Error-Code"]) == (403, "130")
    assert "forged" not in refused.text


def test_a_role_the_page_does_not_list_neither_sees_nor_opens_it(server: ApplianceServer) -> None:
    client = server.console(server.create_user("CLIENT", server.create_company()))
    assert NAV_ENTRY.search(client.get("/console/folders").text) is None
    refused = client.get(PAGE)
    assert (refused.status_code, refused.headers["X-Error-Code"]) == (403, "9")
    refused = client.post(PAGE, {"words": "let me in"})
    assert (refused.status_code, refused.headers["X-Error-Code"]) == (403, "9")


def test_a_visitor_without_a_session_is_sent_to_the_login_page(server: ApplianceServer) -> None:
    anonymous = ConsoleVisitor(server.base_url)
    response = anonymous.get(PAGE)
    assert (response.status_code, response.headers["location"]) == (303, "/console/login")
    anonymous.close()
