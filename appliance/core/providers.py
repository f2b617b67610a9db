"""How the web edges (the API, the console, the routes and pages plugins add) get the services:
Litestar dependencies over the one `AppServices` the API process builds, and the `WebHost`
(appliance.sdk.web) that lends plugin routes and pages the caller of a token and company names.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

from litestar.datastructures import State
from litestar.di import NamedDependency, Provide

from appliance.auth.sessions import authenticate_token
from appliance.core.services import AppServices
from appliance.domain.entities import User
from appliance.domain.errors import AppError, ErrorCode
from appliance.sdk.services import PluginServices
from appliance.web.requests import ACCESS_TOKEN_HEADER

__all__ = ["AppWebHost", "Services", "authenticated_user", "plugin_dependency", "provide_services"]

#: How a handler asks for the services: `services: Services`.
Services: TypeAlias = NamedDependency[AppServices]


def provide_services(state: State) -> AppServices:
    """Dependency `services`: what the API process built when it started (`app.state.services`)."""
    services: AppServices = state.services
    return services


def plugin_dependency(plugin: str) -> Provide:
    """The `plugin` dependency of the API routes and console pages that `plugin` adds: its services."""

    def provide_plugin(state: State) -> PluginServices:
        return provide_services(state).plugin_services[plugin]

    return Provide(provide_plugin, sync_to_thread=False)


def authenticated_user(services: AppServices, token: str | None) -> User:
    """The user an access token names; AUTH_NOT_PROVIDED without a token, AUTH_INVALID or
    AUTH_EXPIRED for one that names nobody (any more)."""
    if token is None:
        raise AppError(ErrorCode.AUTH_NOT_PROVIDED, f"send the access token in {ACCESS_TOKEN_HEADER}")
    user, _ = authenticate_token(services.store, token, services.settings.auth)
    return user


class AppWebHost:
    """The `appliance.sdk.web.WebHost` of the API process."""

    def __init__(self, services: AppServices) -> None:
        self._services = services

    def caller(self, token: str | None) -> User:
        return authenticated_user(self._services, token)

    def company_names(self, company_ids: Sequence[str] | None, limit: int) -> dict[str, str]:
        companies, _ = self._services.store.list_companies(company_ids=company_ids, limit=limit)
        return {company.company_id: company.name for company in companies}
