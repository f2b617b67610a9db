"""Users: `/api/users`. ADMIN manages all; a company admin manages its company's CLIENT users."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import msgspec
from litestar import Controller, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from appliance.api.schemas import UserIn, UserPatch
from appliance.api.security import CurrentUser
from appliance.auth.accounts import check_user_shape, create_account
from appliance.auth.passwords import hash_password
from appliance.core.providers import Services
from appliance.domain import policy
from appliance.domain.entities import User
from appliance.domain.enums import Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.requests import check_paging, found
from appliance.web.responses import page
from appliance.wire import user_to_wire

#: What a user may change on its own account without being allowed to manage it.
_SELF_SERVICE_FIELDS = frozenset({"password", "meta_data", "first_name", "last_name", "middle_name"})


def _forbid_unless(allowed: bool) -> None:
    if not allowed:
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this user may not manage that user")


class UserController(Controller):
    path = "/api/users"
    tags = ["users"]

    def _get(self, services: Services, user: CurrentUser, user_id: str) -> User:
        return found(services.store.get_user(user_id), lambda u: policy.can_read_user(user, u), "user")

    @get("/", sync_to_thread=True, summary="List users visible to the caller")
    def list_users(
        self,
        services: Services,
        user: CurrentUser,
        company_id: FromQuery[str | None] = None,
        search_text: FromQuery[str | None] = None,
        offset: FromQuery[int] = 0,
        limit: FromQuery[int] = 100,
    ) -> dict[str, Any]:
        check_paging(offset, limit)
        if not policy.is_system_wide(user):
            if company_id not in (None, user.company_id):  # a filter outside the caller's company matches nothing
                return page([], 0, offset, limit)
            if not user.is_admin:
                return page([user_to_wire(user)], 1, 0, limit)
            company_id = user.company_id
        items, total = services.store.list_users(
            company_id=company_id, search_text=search_text, offset=offset, limit=limit
        )
        return page([user_to_wire(u) for u in items], total, offset, limit)

    @get("/me", sync_to_thread=True, summary="The caller's own account")
    def me(self, user: CurrentUser) -> dict[str, Any]:
        return user_to_wire(user)

    @post("/", sync_to_thread=True, summary="Create a user")
    def create_user(self, services: Services, user: CurrentUser, data: JSONBody[UserIn]) -> dict[str, Any]:
        company_id = data.company_id
        if company_id is None and user.is_admin and data.user_type not in (Role.ADMIN, Role.OPERATOR):
            company_id = user.company_id
        _forbid_unless(policy.can_manage_user(user, company_id, data.user_type))
        fields = msgspec.structs.asdict(data)
        fields["company_id"] = company_id
        return user_to_wire(create_account(services.store, **fields))

    @get("/{user_id:str}", sync_to_thread=True)
    def get_user(self, services: Services, user: CurrentUser, user_id: FromPath[str]) -> dict[str, Any]:
        return user_to_wire(self._get(services, user, user_id))

    @patch(
        "/{user_id:str}",
        sync_to_thread=True,
        summary="Change a user (a user may change its own password and meta_data)",
    )
    def update_user(
        self, services: Services, user: CurrentUser, user_id: FromPath[str], data: JSONBody[UserPatch]
    ) -> dict[str, Any]:
        target = self._get(services, user, user_id)
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not None}
        self_service = target.user_id == user.user_id and set(changes) <= _SELF_SERVICE_FIELDS
        if not self_service:
            _forbid_unless(policy.can_manage_user(user, target.company_id, target.user_type))
            new_company_id = changes.get("company_id", target.company_id)
            _forbid_unless(policy.can_manage_user(user, new_company_id, changes.get("user_type", target.user_type)))
        password = changes.pop("password", None)
        updated = replace(target, **changes)
        if password is not None:
            updated = replace(updated, password_hash=hash_password(password))
        check_user_shape(services.store, updated)
        with services.store.transaction():
            updated = services.store.update_user(updated)
            if password is not None or updated.is_active is False:
                services.store.delete_user_sessions(updated.user_id)
        return user_to_wire(updated)

    @delete("/{user_id:str}", sync_to_thread=True)
    def delete_user(self, services: Services, user: CurrentUser, user_id: FromPath[str]) -> None:
        target = self._get(services, user, user_id)
        _forbid_unless(
            policy.can_manage_user(user, target.company_id, target.user_type) and target.user_id != user.user_id
        )
        services.store.delete_user(user_id)
