"""Creating accounts, shared by the API and the CLI so both apply the same rules."""

from __future__ import annotations

import uuid
from typing import Any

from appliance.auth.passwords import hash_password
from appliance.domain.entities import User
from appliance.domain.enums import Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.store.protocol import Store

__all__ = ["check_user_shape", "create_account"]


def check_user_shape(store: Store, user: User) -> None:
    """ADMIN and OPERATOR belong to no company; every other role to an existing one."""
    if "@" not in user.email:
        raise AppError(ErrorCode.INVALID_VALUE, "email must be an email address")
    if user.user_type in (Role.ADMIN, Role.OPERATOR):
        if user.company_id is not None or user.is_admin:
            raise AppError(
                ErrorCode.INVALID_VALUE, f"a {user.user_type} belongs to no company and is not a company admin"
            )
        return
    if user.company_id is None or store.get_company(user.company_id) is None:
        raise AppError(ErrorCode.INVALID_VALUE, f"a {user.user_type} needs the company_id of an existing company")
    if user.is_admin and user.user_type is not Role.CLIENT:
        raise AppError(ErrorCode.INVALID_VALUE, "only a CLIENT can be a company admin (is_admin)")


def create_account(store: Store, *, email: str, password: str, user_type: Role, **fields: Any) -> User:
    """Validate, hash the password and insert. Raises AppError (INVALID_VALUE, CONFLICT)."""
    user = User(
        user_id=str(uuid.uuid4()),
        email=email.strip(),
        user_type=user_type,
        password_hash=hash_password(password),
        **fields,
    )
    check_user_shape(store, user)
    return store.create_user(user)
