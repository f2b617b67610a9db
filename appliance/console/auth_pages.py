"""Logging in and out of the console, with the appliance's own users (appliance.auth.sessions)."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get, post
from litestar.params import URLEncodedBody
from litestar.response import Redirect

from appliance.auth.sessions import hash_token, log_in
from appliance.console.pages import render, see_other, with_error
from appliance.console.session import SESSION_COOKIE, CurrentVisit, console_cookie
from appliance.core.providers import Services
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.requests import source_address

__all__ = ["console_home", "log_in_form", "log_out", "login_page"]

HOME = "/console/folders"
#: Refusals shown on the login form itself; anything else is an error page.
_LOGIN_REFUSALS = (ErrorCode.AUTH_INVALID, ErrorCode.LOGIN_THROTTLED, ErrorCode.AUTH_FORBIDDEN)


@get("/", sync_to_thread=False, summary="The console's start page: the folder list")
def console_home() -> Redirect:
    return see_other(HOME)


@get("/login", sync_to_thread=False, summary="The console's login form")
def login_page(visit: CurrentVisit) -> Response[Any]:
    return render(visit, "login.html", {"email": "", "error": None})


@post("/login", sync_to_thread=True, summary="Log in to the console (sets the session cookie)")
def log_in_form(
    request: Request, visit: CurrentVisit, services: Services, data: URLEncodedBody[dict[str, str]]
) -> Response[Any]:
    email = data.get("email", "").strip()
    try:
        issued = log_in(
            services.store, email, data.get("password", ""), services.settings.auth, source_address(request)
        )
    except AppError as exc:
        if exc.code not in _LOGIN_REFUSALS:
            raise
        return with_error(render(visit, "login.html", {"email": email, "error": exc}), exc)
    return see_other(HOME, cookies=[console_cookie(SESSION_COOKIE, issued.access_token, secure=visit.secure)])


@post("/logout", sync_to_thread=True, summary="Log out of the console (ends the session)")
def log_out(visit: CurrentVisit, services: Services) -> Redirect:
    if visit.session_cookie:
        session = services.store.get_session_by_access_hash(hash_token(visit.session_cookie))
        if session is not None:
            services.store.delete_session(session.session_id)
    return see_other("/console/login", cookies=[console_cookie(SESSION_COOKIE, "", secure=visit.secure, expire=True)])
