"""Role rules: who sees and does what (the API's matrix test checks the same over HTTP)."""

from __future__ import annotations

from appliance.domain import policy
from appliance.domain.entities import Folder, User
from appliance.domain.enums import Role


def _user(role: Role, company: str | None = "A", *, user_id: str = "u", admin: bool = False, **flags: bool) -> User:
    return User(
        user_id=user_id,
        email=f"{user_id}@x",
        user_type=role,
        password_hash="",
        company_id=company,
        is_admin=admin,
        **flags,
    )


ADMIN = _user(Role.ADMIN, None, user_id="admin")
OPERATOR = _user(Role.OPERATOR, None, user_id="operator")
COMPANY_ADMIN = _user(Role.CLIENT, user_id="boss", admin=True)
CLIENT = _user(Role.CLIENT, user_id="teller")
COLLEAGUE = _user(Role.CLIENT, user_id="colleague")
CLIENT_OPERATOR = _user(Role.CLIENT_OPERATOR, user_id="reviewer")
OTHER_COMPANY_ADMIN = _user(Role.CLIENT, "B", user_id="other", admin=True)

TELLERS_FOLDER = Folder(folder_id="f", company_id="A", user_id="teller")


def test_folder_visibility() -> None:
    visible = {
        u.user_id
        for u in (ADMIN, OPERATOR, COMPANY_ADMIN, CLIENT, COLLEAGUE, CLIENT_OPERATOR, OTHER_COMPANY_ADMIN)
        if policy.can_read_folder(u, TELLERS_FOLDER)
    }
    assert visible == {"admin", "operator", "boss", "teller", "reviewer"}


def test_folder_changes() -> None:
    assert [
        policy.can_write_folder(u, TELLERS_FOLDER)
        for u in (ADMIN, OPERATOR, COMPANY_ADMIN, CLIENT, CLIENT_OPERATOR, COLLEAGUE)
    ] == [
        True,
        False,
        True,
        True,
        False,
        False,
    ]
    assert [
        policy.can_delete_folder(u, TELLERS_FOLDER) for u in (ADMIN, COMPANY_ADMIN, CLIENT, OTHER_COMPANY_ADMIN)
    ] == [True, True, False, False]


def test_scopes_of_folder_lists() -> None:
    assert policy.folder_scope(OPERATOR) == policy.FolderScope(None, None)
    assert policy.folder_scope(CLIENT_OPERATOR) == policy.FolderScope("A", None)
    assert policy.folder_scope(CLIENT) == policy.FolderScope("A", "teller")


def test_analysis_flags() -> None:
    no_quality = _user(Role.CLIENT, can_start_analysis_quality=False)
    assert not policy.can_start_analysis(no_quality, "quality")
    assert policy.can_start_analysis(no_quality, "BIOMETRY")
    assert policy.can_start_analysis(no_quality, "BRIGHTNESS")  # plugin types have no flag
    assert not policy.can_start_analysis(OPERATOR, "BIOMETRY")


def test_user_management() -> None:
    assert policy.can_manage_user(COMPANY_ADMIN, "A", Role.CLIENT_OPERATOR)
    assert not policy.can_manage_user(COMPANY_ADMIN, "A", Role.OPERATOR)
    assert not policy.can_manage_user(COMPANY_ADMIN, "B", Role.CLIENT)
    assert not policy.can_manage_user(CLIENT, "A", Role.CLIENT)
    assert policy.can_read_user(COMPANY_ADMIN, COLLEAGUE) and not policy.can_read_user(CLIENT, COLLEAGUE)
    assert policy.can_read_company(CLIENT, "A") and not policy.can_read_company(CLIENT, "B")
