"""Who is calling: the access token from `X-Forensic-Access-Token` or `Authorization: Bearer`."""

from __future__ import annotations

from litestar import Request

from appliance.core.providers import Services, authenticated_user
from appliance.domain.entities import User
from appliance.web.requests import CurrentUser, access_token_of

__all__ = ["CurrentUser", "provide_user"]


def provide_user(request: Request, services: Services) -> User:
    """Dependency `user`: the authenticated caller, or AUTH_NOT_PROVIDED / AUTH_INVALID / AUTH_EXPIRED."""
    return authenticated_user(services, access_token_of(request))
