"""Rendering console pages (with the templates of the visit's console, site.py), the security
headers every page carries, the CSRF guard of every form, and the HTML answers to errors.

Templates are autoescaped and undefined names raise. Pages load no inline script or style: the
Content-Security-Policy allows scripts, styles, images and media from the appliance only.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect

from appliance.api.errors import HTTP_STATUS
from appliance.console.csrf import FORM_FIELD, valid_csrf_token
from appliance.console.session import NONCE_COOKIE, SESSION_COOKIE, LoginRequired, Visit, console_cookie
from appliance.console.site import template_environment
from appliance.domain.errors import AppError, ErrorCode

__all__ = [
    "ERROR_CODE_HEADER",
    "SECURITY_HEADERS",
    "check_csrf",
    "exception_handlers",
    "render",
    "see_other",
    "with_error",
]

log = logging.getLogger("appliance.console")

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # page URLs hold folder ids and signed media links: never send them to another site
    "Referrer-Policy": "no-referrer",
    # pages show personal data: no copies in caches
    "Cache-Control": "no-store",
}
#: Error pages say their code in this header as well, for scripts and tests.
ERROR_CODE_HEADER = "X-Error-Code"
LOGIN_PATH = "/console/login"


#: The console's own templates, for the pages rendered without a visit (errors).
_CONSOLE_TEMPLATES = template_environment()


def render(
    visit: Visit | None, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response[str]:
    """The page `template` with `context` (`page` names the navigation entry to mark); sets the
    CSRF nonce cookie when the visit made one."""
    templates = visit.site.templates if visit is not None else _CONSOLE_TEMPLATES
    page = templates.get_template(template).render({"visit": visit, "page": "", **(context or {})})
    cookies = []
    if visit is not None and visit.nonce_is_new:
        cookies.append(console_cookie(NONCE_COOKIE, visit.nonce, secure=visit.secure))
    return Response(
        page,
        status_code=status_code,
        media_type="text/html; charset=utf-8",
        headers=SECURITY_HEADERS,
        cookies=cookies,
    )


def with_error(page: Response[Any], error: AppError | None) -> Response[Any]:
    """`page` answered with the status and code of `error` (a form sent back with its message)."""
    if error is not None:
        page.status_code = HTTP_STATUS.get(error.code, 400)
        page.headers[ERROR_CODE_HEADER] = str(int(error.code))
    return page


def see_other(path: str, **kwargs: Any) -> Redirect:
    """303 to `path` (after a form, or to the login page), with the security headers."""
    return Redirect(path, status_code=303, headers=SECURITY_HEADERS, **kwargs)


async def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of every console route: a request that may change something (any method but GET,
    HEAD and OPTIONS) must carry the CSRF token of its nonce and session in its form."""
    if connection.scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return
    assert isinstance(connection, Request)
    form = await connection.form()
    sent = form.get(FORM_FIELD)
    secret = connection.app.state.services.settings.secret_key
    cookies = connection.cookies
    if not valid_csrf_token(secret, cookies.get(NONCE_COOKIE), cookies.get(SESSION_COOKIE), sent):
        raise AppError(
            ErrorCode.CSRF_FAILED, "this form has expired or did not come from this console; reload the page"
        )


def _error_page(code: ErrorCode, message: str, status_code: int) -> Response[str]:
    response = render(None, "error.html", {"code": code, "message": message}, status_code=status_code)
    response.headers[ERROR_CODE_HEADER] = str(int(code))
    return response


def _app_error(_: Request, exc: AppError) -> Response[str]:
    return with_error(render(None, "error.html", {"code": exc.code, "message": exc.message}), exc)


def _login_required(_: Request, __: LoginRequired) -> Response[Any]:
    return see_other(LOGIN_PATH)


def _validation_error(_: Request, exc: ValidationException) -> Response[str]:
    return _error_page(ErrorCode.INVALID_STRUCTURE, str(exc.detail), 400)


def _http_error(_: Request, exc: HTTPException) -> Response[str]:
    code = ErrorCode.NOT_EXIST if isinstance(exc, NotFoundException) else ErrorCode.INVALID_STRUCTURE
    return _error_page(code, str(exc.detail), exc.status_code)


def _unexpected_error(request: Request, exc: Exception) -> Response[str]:
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return _error_page(ErrorCode.UNKNOWN, "Unknown server side error occurred", 500)


exception_handlers = {
    AppError: _app_error,
    LoginRequired: _login_required,
    ValidationException: _validation_error,
    HTTPException: _http_error,
    Exception: _unexpected_error,
}
