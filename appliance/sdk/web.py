"""What the API routes a plugin adds (`register_routes` hook) work with: the public web side of the SDK.

A plugin writes Litestar controllers or route handlers, as the appliance's own are written, and
adds them in `register_routes(routes)`. Their handlers may ask for:

- `user: CurrentUser`: the authenticated caller (a `User`: `user_id`, `user_type` (a `Role`),
  `company_id`, `is_admin`); a request without a valid token is answered 401 before the handler runs;
- `plugin: PluginDependency`: this plugin's `PluginServices` (tables, files, cache, face pipeline);
- `request: Request`, path and query parameters, JSON bodies: as in any Litestar handler.

Refusals are `AppError(ErrorCode.X, message, details)`: the API answers them with the code's
HTTP status and the `{error_code, error_name, error_message, details}` body, like its own errors.
Who may do what: `can_read_company` and `can_administer_company_data` apply the appliance's roles.

This module imports the API; import it only in the modules that define routes, so that workers
loading the plugin's analyzers do not need it.
"""

from __future__ import annotations

from typing import TypeAlias

from litestar import Request
from litestar.di import NamedDependency

from appliance.api.common import MAX_PAGE, change_meta, check_paging, found, page, send_file, split_csv
from appliance.api.security import provide_user
from appliance.api.uploads import ParsedUpload, UploadedFile, read_multipart
from appliance.domain.entities import User
from appliance.domain.enums import Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.policy import can_administer_company_data, can_read_company
from appliance.sdk.registry import RouteRegistry
from appliance.sdk.services import PluginServices

__all__ = [
    "MAX_PAGE",
    "AppError",
    "CurrentUser",
    "ErrorCode",
    "ParsedUpload",
    "PluginDependency",
    "Role",
    "RouteRegistry",
    "UploadedFile",
    "User",
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
]

#: A handler parameter `user: CurrentUser` is the authenticated caller.
CurrentUser: TypeAlias = NamedDependency[User]
#: A handler parameter `plugin: PluginDependency` is the services of the plugin that added the route.
PluginDependency: TypeAlias = NamedDependency[PluginServices]


async def read_upload(request: Request, plugin: PluginServices) -> ParsedUpload:
    """The multipart body of `request` as the folder uploads read it: a `payload` part (JSON
    object) and files (`UploadedFile`: `key`, `filename`, `file`), under the site's limits
    (file count, size, payload size), spooled to the plugin's file directory. Refusals are
    AppError (PAYLOAD_INVALID, TOO_MANY_FILES, MEDIA_TOO_LARGE). Close it when done."""
    return await read_multipart(request, plugin.limits, plugin.files.spool_dir)


def caller_or_signed_link(request: Request, plugin: PluginServices) -> User | None:
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
    return provide_user(request, request.app.state.services)
