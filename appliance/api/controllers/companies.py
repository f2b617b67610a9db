"""Companies: `/api/companies`. ADMIN manages them; everyone else sees their own."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import replace
from typing import Any

from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from appliance.api.folder_service import check_endpoint
from appliance.api.schemas import CompanyIn, CompanyPatch
from appliance.api.security import CurrentUser
from appliance.core.providers import Services
from appliance.domain import policy
from appliance.domain.entities import Company
from appliance.domain.enums import Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.requests import check_paging, found
from appliance.web.responses import page
from appliance.wire import company_to_wire


def _may_configure(user: CurrentUser, company: Company) -> bool:
    return user.user_type is Role.ADMIN or (user.is_admin and user.company_id == company.company_id)


def _forbid_unless(allowed: bool) -> None:
    if not allowed:
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not change companies")


class CompanyController(Controller):
    path = "/api/companies"
    tags = ["companies"]

    def _get(self, services: Services, user: CurrentUser, company_id: str) -> Company:
        company = services.store.get_company(company_id)
        return found(company, lambda c: policy.can_read_company(user, c.company_id), "company")

    @get("/", sync_to_thread=True, summary="List companies (search_text: part of the name)")
    def list_companies(
        self,
        services: Services,
        user: CurrentUser,
        search_text: FromQuery[str | None] = None,
        offset: FromQuery[int] = 0,
        limit: FromQuery[int] = 100,
    ) -> dict[str, Any]:
        check_paging(offset, limit)
        only = None if policy.is_system_wide(user) else [user.company_id or ""]
        items, total = services.store.list_companies(
            search_text=search_text, company_ids=only, offset=offset, limit=limit
        )
        return page([company_to_wire(c, with_secret=_may_configure(user, c)) for c in items], total, offset, limit)

    @post("/", sync_to_thread=True, summary="Create a company (ADMIN)")
    def create_company(self, services: Services, user: CurrentUser, data: JSONBody[CompanyIn]) -> dict[str, Any]:
        _forbid_unless(policy.can_manage_company(user))
        if not data.name.strip():
            raise AppError(ErrorCode.INVALID_VALUE, "a company needs a name")
        company = Company(
            company_id=str(uuid.uuid4()),
            name=data.name.strip(),
            webhook_secret=secrets.token_hex(32),
            webhook_url=check_endpoint(services, data.webhook_url),
            meta_data=data.meta_data,
        )
        return company_to_wire(services.store.create_company(company), with_secret=True)

    @get("/{company_id:str}", sync_to_thread=True)
    def get_company(self, services: Services, user: CurrentUser, company_id: FromPath[str]) -> dict[str, Any]:
        company = self._get(services, user, company_id)
        return company_to_wire(company, with_secret=_may_configure(user, company))

    @patch(
        "/{company_id:str}", sync_to_thread=True, summary="Change a company (ADMIN; its admin: webhook_url, meta_data)"
    )
    def update_company(
        self, services: Services, user: CurrentUser, company_id: FromPath[str], data: JSONBody[CompanyPatch]
    ) -> dict[str, Any]:
        company = self._get(services, user, company_id)
        _forbid_unless(_may_configure(user, company) and (data.name is None or policy.can_manage_company(user)))
        changes: dict[str, Any] = {}
        if data.name is not None:
            changes["name"] = data.name.strip()
        if data.webhook_url is not None:
            changes["webhook_url"] = check_endpoint(services, data.webhook_url) if data.webhook_url else None
        if data.meta_data is not None:
            changes["meta_data"] = data.meta_data
        return company_to_wire(services.store.update_company(replace(company, **changes)), with_secret=True)

    @post("/{company_id:str}/webhook_secret", status_code=200, sync_to_thread=True, summary="Rotate the webhook secret")
    def rotate_secret(self, services: Services, user: CurrentUser, company_id: FromPath[str]) -> dict[str, Any]:
        company = self._get(services, user, company_id)
        _forbid_unless(_may_configure(user, company))
        company = services.store.update_company(replace(company, webhook_secret=secrets.token_hex(32)))
        return company_to_wire(company, with_secret=True)

    @delete("/{company_id:str}", sync_to_thread=True, summary="Delete a company without users or folders (ADMIN)")
    def delete_company(self, services: Services, user: CurrentUser, company_id: FromPath[str]) -> None:
        self._get(services, user, company_id)
        _forbid_unless(policy.can_manage_company(user))
        services.store.delete_company(company_id)
