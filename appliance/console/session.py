"""Who is looking at a console page: the login session in a cookie, and the CSRF nonce.

The console never reads the API's token header, and the API never reads these cookies. A
login opens an ordinary session (appliance.auth.sessions, with its sliding expiry and login
throttling); its access token travels only in the session cookie: HttpOnly (no script reads it),
SameSite=Strict (no other site's page sends it), path /console, and Secure when the request came
over TLS or `console.secure_cookies` is `always`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import SkipValidation

from appliance.auth.sessions import authenticate_token
from appliance.console.csrf import csrf_token, new_nonce
from appliance.console.site import ConsoleSite
from appliance.core.providers import Services
from appliance.domain.entities import User
from appliance.domain.errors import AppError
from appliance.ops.settings import Settings
from appliance.sdk.registry import ConsolePage
from appliance.web.responses import html_page

__all__ = [
    "COOKIE_PATH",
    "NONCE_COOKIE",
    "SESSION_COOKIE",
    "CurrentSite",
    "CurrentVisit",
    "LoginRequired",
    "Visit",
    "console_cookie",
    "cookies_secure",
    "provide_visit",
]

SESSION_COOKIE = "appliance_console_session"
NONCE_COOKIE = "appliance_console_nonce"
COOKIE_PATH = "/console"


class LoginRequired(Exception):
    """The page needs a signed-in user; the console answers with a redirect to its login page."""


@dataclass(frozen=True, slots=True)
class Visit:
    """One request to the console: the signed-in user (if any), what its forms carry, and the
    console it visits (the templates and the plugins' pages). What plugin pages get as their
    `visit` (it implements `appliance.sdk.console.Visit`)."""

    user: User | None
    #: The session cookie as sent (the CSRF token is bound to it, valid or not).
    session_cookie: str | None
    nonce: str
    nonce_is_new: bool
    csrf_token: str
    secure: bool
    site: ConsoleSite

    @property
    def navigation(self) -> list[ConsolePage]:
        """The plugins' pages the navigation lists for this user."""
        return self.site.navigation(self.user)

    def signed_in(self) -> User:
        if self.user is None:
            raise LoginRequired
        return self.user

    def render(
        self, template: str, context: Mapping[str, Any] | None = None, *, status_code: int = 200
    ) -> Response[str]:
        """The page `template` of this console's templates with `context` (`page` names the
        navigation entry to mark); sets the CSRF nonce cookie when this visit made the nonce."""
        html = self.site.templates.get_template(template).render({"visit": self, "page": "", **(context or {})})
        cookies = [console_cookie(NONCE_COOKIE, self.nonce, secure=self.secure)] if self.nonce_is_new else []
        return html_page(html, status_code=status_code, cookies=cookies)


#: How a console handler asks for its visit: `visit: CurrentVisit` (made here, so not validated again).
CurrentVisit: TypeAlias = NamedDependency[SkipValidation[Visit]]
#: How a dependency asks for the console it serves: `console_site: CurrentSite`.
CurrentSite: TypeAlias = NamedDependency[SkipValidation[ConsoleSite]]


def cookies_secure(request: Request, settings: Settings) -> bool:
    return settings.console.secure_cookies == "always" or request.url.scheme == "https"


def console_cookie(name: str, value: str, *, secure: bool, expire: bool = False) -> Cookie:
    """A console cookie: HttpOnly, SameSite=Strict, path /console; a browser-session cookie
    unless `expire` (which deletes it)."""
    return Cookie(
        key=name,
        value="" if expire else value,
        path=COOKIE_PATH,
        httponly=True,
        samesite="strict",
        secure=secure,
        max_age=0 if expire else None,
    )


def provide_visit(request: Request, services: Services, console_site: CurrentSite) -> Visit:
    """Dependency `visit`. An unknown or expired session cookie counts as not signed in."""
    settings = services.settings
    nonce = request.cookies.get(NONCE_COOKIE)
    nonce_is_new = not nonce
    nonce = nonce or new_nonce()
    cookie = request.cookies.get(SESSION_COOKIE) or None
    user = None
    if cookie is not None:
        # an unknown or expired session is the expected case of a stale cookie: the login page follows
        with contextlib.suppress(AppError):
            user, _ = authenticate_token(services.store, cookie, settings.auth)
    return Visit(
        user=user,
        session_cookie=cookie,
        nonce=nonce,
        nonce_is_new=nonce_is_new,
        csrf_token=csrf_token(settings.secret_key, nonce, cookie),
        secure=cookies_secure(request, settings),
        site=console_site,
    )
