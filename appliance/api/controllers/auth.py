"""Log in and refresh: `/api/authorize/auth`, `/api/authorize/refresh`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.params import JSONBody

from appliance.api.schemas import LoginIn, RefreshIn
from appliance.auth.sessions import IssuedTokens, log_in, refresh
from appliance.core.providers import Services
from appliance.web.requests import access_token_of, source_address
from appliance.wire import iso, user_to_wire


def _tokens(issued: IssuedTokens) -> dict[str, Any]:
    return {
        "access_token": issued.access_token,
        "expire_token": issued.expire_token,
        "expire_date": iso(issued.access_expires_at),
        "expire_token_date": iso(issued.expire_token_expires_at),
        "user": user_to_wire(issued.user),
    }


class AuthController(Controller):
    path = "/api/authorize"
    tags = ["auth"]

    @post("/auth", status_code=200, sync_to_thread=True, summary="Log in with email and password")
    def login(self, request: Request, data: JSONBody[LoginIn], services: Services) -> dict[str, Any]:
        credentials = data.credentials
        auth = services.settings.auth
        return _tokens(log_in(services.store, credentials.email, credentials.password, auth, source_address(request)))

    @post("/refresh", status_code=200, sync_to_thread=True, summary="Trade the expire token for a new token pair")
    def refresh(self, request: Request, data: JSONBody[RefreshIn], services: Services) -> dict[str, Any]:
        return _tokens(refresh(services.store, data.expire_token, access_token_of(request), services.settings.auth))
