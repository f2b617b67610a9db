"""A test plugin that adds one console page through `register_console_pages` and nothing of the
appliance but `appliance.sdk`: `/console/greeting`, for ADMIN and OPERATOR only, which greets the
signed-in user, names the plugin whose services it got, and answers a (multipart) form."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post

from appliance.sdk import hookimpl
from appliance.sdk.console import (
    ConsolePage,
    ConsolePageRegistry,
    CurrentVisit,
    PluginDependency,
    read_form,
    render,
)
from appliance.sdk.web import Role

__version__ = "1.0"

PATH = "/console/greeting"
TEMPLATES = Path(__file__).parent / "pages_templates"


@get(PATH, sync_to_thread=True)
def greeting(visit: CurrentVisit, plugin: PluginDependency) -> Response[Any]:
    context = {"page": PATH, "email": visit.signed_in().email, "plugin": plugin.plugin, "said": "", "files": []}
    return render(visit, "pages_plugin/greeting.html", context)


@post(PATH)
async def reply(visit: CurrentVisit, request: Request, plugin: PluginDependency) -> Response[Any]:
    email = visit.signed_in().email
    form = await read_form(request, plugin)
    form.close()
    said, files = form.fields.get("words", ""), [upload.filename for upload in form.files]
    context = {"page": PATH, "email": email, "plugin": plugin.plugin, "said": said, "files": files}
    return render(visit, "pages_plugin/greeting.html", context)


GREETING = ConsolePage(
    title="Greeting",
    path=PATH,
    handlers=[greeting, reply],
    roles=frozenset({Role.ADMIN, Role.OPERATOR}),
    templates=TEMPLATES,
)


@hookimpl
def register_console_pages(pages: ConsolePageRegistry) -> None:
    pages.add(GREETING)
