"""Who is calling: the access token from `X-Forensic-Access-Token` or `Authorization: Bearer`."""

from __future__ import annotations

from typing import TypeAlias

from litestar import Request
from litestar.di import NamedDependency

from appliance.api.services import Services
from appliance.auth.sessions import authenticate_token
from appliance.domain.entities import User
from appliance.domain.errors import AppError, ErrorCode

__all__ = ["ACCESS_TOKEN_HEADER", "CurrentUser", "access_token_of", "provide_user"]

ACCESS_TOKEN_HEADER = "X-Forensic-Access-Token"

#: How a handler asks for the authenticated caller: `user: CurrentUser` (401 without a valid token).
CurrentUser: TypeAlias = NamedDependency[User]


def access_token_of(request: Request) -> str | None:
    token = request.headers.get(ACCESS_TOKEN_HEADER)
    if token:
        return token.strip()
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credentials.strip():
        return credentials.strip()
    return None


def provide_user(request: Request, services: Services) -> User:
    """Dependency `user`: the authenticated caller, or AUTH_NOT_PROVIDED / AUTH_INVALID / AUTH_EXPIRED."""
    token = access_token_of(request)
    if token is None:
        raise AppError(ErrorCode.AUTH_NOT_PROVIDED, f"send the access token in {ACCESS_TOKEN_HEADER}")
    user, _ = authenticate_token(services.store, token, services.settings.auth)
    return user
