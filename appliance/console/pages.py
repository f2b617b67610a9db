"""Rendering console pages (with the templates of the visit's console, site.py; the headers every
page carries are appliance.web.responses'), the CSRF guard of every form, and the HTML answers to errors.

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

from appliance.console.csrf import valid_csrf_token
from appliance.console.session import NONCE_COOKIE, SESSION_COOKIE, LoginRequired, Visit
from appliance.console.site import template_environment
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.requests import CSRF_FORM_FIELD
from appliance.web.responses import ERROR_CODE_HEADER, html_page, see_other, with_error

__all__ = ["check_csrf", "exception_handlers", "render", "see_other", "with_error"]

log = logging.getLogger("appliance.console")

LOGIN_PATH = "/console/login"

#: The console's own templates, for the pages rendered without a visit (errors).
_CONSOLE_TEMPLATES = template_environment()


def render(
    visit: Visit | None, template: str, context: dict[str, Any] | None = None, *, status_code: int = 200
) -> Response[str]:
    """The page `template` with `context` (`page` names the navigation entry to mark), through the
    visit's templates (`Visit.render`), or the console's own when there is no visit (error pages)."""
    if visit is not None:
        return visit.render(template, context, status_code=status_code)
    html = _CONSOLE_TEMPLATES.get_template(template).render({"visit": None, "page": "", **(context or {})})
    return html_page(html, status_code=status_code)


async def check_csrf(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of every console route: a request that may change something (any method but GET,
    HEAD and OPTIONS) must carry the CSRF token of its nonce and session in its form."""
    if connection.scope.get("method") in ("GET", "HEAD", "OPTIONS"):
        return
    assert isinstance(connection, Request)
    form = await connection.form()
    sent = form.get(CSRF_FORM_FIELD)
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
