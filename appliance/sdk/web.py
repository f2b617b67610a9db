"""What the API routes a plugin adds (`register_routes` hook) work with: the public web side of the SDK.

A plugin writes Litestar controllers or route handlers, as the appliance's own are written, and
adds them in `register_routes(routes)`. Their handlers may ask for:

- `user: CurrentUser`: the authenticated caller (a `User`: `user_id`, `user_type` (a `Role`),
  `company_id`, `is_admin`); a request without a valid token is answered 401 before the handler runs;
- `plugin: PluginDependency`: this plugin's `PluginServices` (tables, files, cache, face pipeline);
- `request: Request`, path and query parameters, JSON bodies: as in any Litestar handler.

An item's `<path>/meta_data` (GET, POST, PATCH, DELETE, as the appliance's own items have them) is a
`MetaDataRoutes` subclass with that path and a `meta_data` dependency returning the item's `MetaData`.

Refusals are `AppError(ErrorCode.X, message, details)`: the API answers them with the code's
HTTP status and the `{error_code, error_name, error_message, details}` body, like its own errors.
Who may do what: `can_read_company` and `can_administer_company_data` apply the appliance's roles.

What needs the appliance at request time (the caller a token names) comes through `WebHost`, a
protocol the API implements and keeps on its app (`app.state.plugin_web_host`): this module, like
the whole SDK, imports nothing of the API.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, TypeAlias, cast

from litestar import Request
from litestar.di import NamedDependency

from appliance.domain.entities import User
from appliance.domain.enums import Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.policy import can_administer_company_data, can_read_company
from appliance.sdk.registry import RouteRegistry
from appliance.sdk.services import PluginServices
from appliance.web.meta import CurrentMetaData, MetaData, MetaDataRoutes, change_meta
from appliance.web.requests import MAX_PAGE, CurrentUser, access_token_of, check_paging, found, split_csv
from appliance.web.responses import page, send_file
from appliance.web.uploads import ParsedUpload, UploadedFile, read_multipart

__all__ = [
    "MAX_PAGE",
    "WEB_HOST_STATE",
    "AppError",
    "CurrentMetaData",
    "CurrentUser",
    "ErrorCode",
    "MetaData",
    "MetaDataRoutes",
    "ParsedUpload",
    "PluginDependency",
    "Role",
    "RouteRegistry",
    "UploadedFile",
    "User",
    "WebHost",
    "caller_or_signed_link",
    "can_administer_company_data",
    "can_read_company",
    "change_meta",
    "check_paging",
    "found",
    "page",
    "read_upload",
    "send_file",
    "split_csv",
    "web_host",
]

#: A handler parameter `plugin: PluginDependency` is the services of the plugin that added the route.
PluginDependency: TypeAlias = NamedDependency[PluginServices]

#: The attribute of the Litestar app's `state` that holds its `WebHost`.
WEB_HOST_STATE = "plugin_web_host"


class WebHost(Protocol):
    """What the appliance lends plugin routes and pages at request time."""

    def caller(self, token: str | None) -> User:
        """The user an access token names; AUTH_NOT_PROVIDED without one, AUTH_INVALID or
        AUTH_EXPIRED for a token that names nobody (any more)."""
        ...

    def company_names(self, company_ids: Sequence[str] | None, limit: int) -> dict[str, str]:
        """Names by id of the companies `company_ids` (all when None, at most `limit`), in name order."""
        ...


def web_host(request: Request[Any, Any, Any]) -> WebHost:
    """The `WebHost` of the app serving `request`."""
    return cast(WebHost, getattr(request.app.state, WEB_HOST_STATE))


async def read_upload(request: Request[Any, Any, Any], plugin: PluginServices) -> ParsedUpload:
    """The multipart body of `request` as the folder uploads read it: a `payload` part (JSON
    object) and files (`UploadedFile`: `key`, `filename`, `file`), under the site's limits
    (file count, size, payload size), spooled to the plugin's file directory. Refusals are
    AppError (PAYLOAD_INVALID, TOO_MANY_FILES, MEDIA_TOO_LARGE). Close it when done."""
    return await read_multipart(request, plugin.limits, plugin.files.spool_dir)


def caller_or_signed_link(request: Request[Any, Any, Any], plugin: PluginServices) -> User | None:
    """For a route that serves a file: None when the URL carries a valid signature (links made by
    `plugin.signed_url`: whoever holds one may fetch it until it expires), else the caller that the
    request's access token names. Raises AUTH_EXPIRED for a wrong or expired link and
    AUTH_NOT_PROVIDED / AUTH_INVALID without a valid token, before the handler looks anything up."""
    expires, signature = request.query_params.get("expires"), request.query_params.get("signature")
    if expires is not None and signature is not None:
        if not plugin.link_is_valid(request.url.path, expires, signature):
            raise AppError(
                ErrorCode.AUTH_EXPIRED, "this link has expired or its signature is wrong; fetch the document again"
            )
        return None
    return web_host(request).caller(access_token_of(request))
