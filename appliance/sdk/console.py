"""What the console pages a plugin adds (`register_console_pages` hook) work with: the console side of the SDK.

A plugin writes Litestar route handlers (or controllers) at its page's path under `/console/` and
the paths below it, and adds them in `register_console_pages(pages)` as a `ConsolePage` with a
navigation title, the roles that see it and a folder of Jinja templates. Their handlers may ask for:

- `visit: CurrentVisit`: this request's console `Visit`; `visit.signed_in()` is the signed-in user
  (a `User`, from the console's session cookie, never an API token), and redirects to the login
  page when nobody is signed in. A signed-in user of a role the page does not list gets 403 first;
- `plugin: PluginDependency`: this plugin's `PluginServices`, as its API routes get them;
- `request: Request`, path and query parameters: as in any Litestar handler.

Pages: `render(visit, "my_plugin/page.html", context)`, a template of the page's folder that
extends the console's `base.html` (blocks `title` and `main`); `page` in the context, set to the
page's path, marks its navigation entry. No inline script or style: the console's stylesheet and
script are the page's. The console's templates offer `_macros.html` (`csrf(visit)`, `badge`) and
the filters `when` (a time), `short_id` and `flat` (a JSON object's dotted keys and values).

Forms are POSTed, and carry `{{ csrf(visit) }}`: the console refuses a POST without its token
(403, CSRF_FAILED) before the handler runs. `read_form(request, plugin)` gives a form's fields and
files (multipart forms too); answer a form with `see_other(path)`, or with the page again and its
error, `with_error(render(...), error)`. Refusals are `AppError`s (appliance.sdk.web), shown as
the console's error page with the code's status. `private_file(path, media_type)` serves a stored
file to the signed-in user (a photo shown on a page) without letting the browser keep it.
`company_names(request, user)` names the companies the user may see.

The console implements `Visit` (a protocol here): this module imports nothing of the console.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

from litestar import Request, Response
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from appliance.domain.entities import User
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.policy import is_system_wide
from appliance.sdk.registry import ConsolePage, ConsolePageRegistry
from appliance.sdk.services import PluginServices
from appliance.sdk.web import PluginDependency, web_host
from appliance.web.requests import CSRF_FORM_FIELD
from appliance.web.responses import private_file, see_other, with_error
from appliance.web.uploads import UploadedFile

__all__ = [
    "MAX_COMPANIES",
    "ConsoleForm",
    "ConsolePage",
    "ConsolePageRegistry",
    "CurrentVisit",
    "PluginDependency",
    "Visit",
    "company_names",
    "private_file",
    "read_form",
    "render",
    "see_other",
    "with_error",
]

#: At most this many companies are named by `company_names` (an appliance serves a few dozen).
MAX_COMPANIES = 1000


class Visit(Protocol):
    """One request to the console, as a page handler gets it (`visit: CurrentVisit`)."""

    @property
    def user(self) -> User | None:
        """The signed-in user, or None."""
        ...

    @property
    def csrf_token(self) -> str:
        """The token this visit's forms carry (`{{ csrf(visit) }}` writes it)."""
        ...

    def signed_in(self) -> User:
        """The signed-in user; when nobody is signed in, the console answers with its login page."""
        ...

    def render(
        self, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200
    ) -> Response[str]:
        """The page `template` with `context`, through the console's templates and headers."""
        ...


#: How a console handler asks for its visit: `visit: CurrentVisit` (made by the console, not validated again).
CurrentVisit: TypeAlias = NamedDependency[SkipValidation[Visit]]


def render(
    visit: Visit, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200
) -> Response[str]:
    """The page `template` with `context` (`page` names the navigation entry to mark)."""
    return visit.render(template, context, status_code=status_code)


@dataclass(slots=True)
class ConsoleForm:
    """A POSTed form: the first value of each text field (the CSRF token left out), and the files
    of a multipart form (`UploadedFile`: `key`, `filename`, `file`). Close it when done."""

    fields: dict[str, str]
    files: list[UploadedFile]

    def close(self) -> None:
        for upload in self.files:
            upload.file.close()


async def read_form(request: Request[Any, Any, Any], plugin: PluginServices) -> ConsoleForm:
    """The form of `request`, as the console's CSRF guard read it. A file input left empty is no
    file. More files than the site's `max_files_per_request` is TOO_MANY_FILES; a file's size and
    content are checked when the plugin ingests it (`plugin.files.ingest`)."""
    fields: dict[str, str] = {}
    files: list[UploadedFile] = []
    for key, value in (await request.form()).multi_items():
        if isinstance(value, UploadFile):
            files.append(UploadedFile(key=key, filename=value.filename, file=value.file))  # type: ignore[arg-type]
        elif key != CSRF_FORM_FIELD:
            fields.setdefault(key, value)
    form = ConsoleForm(fields, files)
    limit = plugin.limits.max_files_per_request
    if len(files) > limit:
        form.close()
        raise AppError(ErrorCode.TOO_MANY_FILES, f"at most {limit} files per form", {"max_files": limit})
    return form


def company_names(
    request: Request[Any, Any, Any], user: User, company_ids: Sequence[str] | None = None
) -> dict[str, str]:
    """The names of the companies `user` may see, by id, in name order: every company for ADMIN
    and OPERATOR (at most `MAX_COMPANIES`), else the user's own; of those only `company_ids` when given."""
    if not is_system_wide(user):
        own = [user.company_id] if user.company_id else []
        company_ids = [c for c in (own if company_ids is None else company_ids) if c in own]
    if company_ids is not None and not company_ids:
        return {}
    return web_host(request).company_names(company_ids, MAX_COMPANIES)
