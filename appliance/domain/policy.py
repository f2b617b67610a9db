"""Who may see and do what. One place for the role rules; the API asks, never decides on its own.

The Oz roles as this appliance applies them:

| role | sees folders | creates folders, media, analyses | deletes folders | manages users | companies |
|---|---|---|---|---|---|
| ADMIN | all | yes | all | all | all |
| OPERATOR | all | no | no | no | reads all |
| CLIENT with is_admin | its company's | yes | its company's | its company's (CLIENT roles only) | reads its own |
| CLIENT | its own | yes | no | no | reads its own |
| CLIENT_OPERATOR | its company's | no | no | no | reads its own |

Deciding a folder that waits for an operator (OPERATOR_REQUIRED) is for ADMIN and OPERATOR, and
within their company for the company admin and CLIENT_OPERATOR.

A service account (`is_service`) is a CLIENT, CLIENT_OPERATOR or company admin whose tokens live
long. Starting an analysis also needs the user's `can_start_analysis_<type>` flag for the four
built-in types. Something a user may not see is reported as missing, never as forbidden, so that
no caller learns what another company holds.
"""

from __future__ import annotations

from dataclasses import dataclass

from appliance.domain.entities import Folder, User
from appliance.domain.enums import Role

__all__ = [
    "FolderScope",
    "can_administer_company_data",
    "can_create_folders",
    "can_decide_folder",
    "can_delete_folder",
    "can_manage_company",
    "can_manage_user",
    "can_read_company",
    "can_read_folder",
    "can_read_user",
    "can_start_analysis",
    "can_write_folder",
    "folder_scope",
    "is_system_wide",
]


def is_system_wide(user: User) -> bool:
    """ADMIN and OPERATOR belong to no company and see every company's data."""
    return user.user_type in (Role.ADMIN, Role.OPERATOR)


def _is_company_admin(user: User) -> bool:
    return user.user_type is Role.CLIENT and user.is_admin


@dataclass(frozen=True, slots=True)
class FolderScope:
    """The folders a user may list: None means no restriction on that field."""

    company_id: str | None
    user_id: str | None


def folder_scope(user: User) -> FolderScope:
    if is_system_wide(user):
        return FolderScope(company_id=None, user_id=None)
    if _is_company_admin(user) or user.user_type is Role.CLIENT_OPERATOR:
        return FolderScope(company_id=user.company_id, user_id=None)
    return FolderScope(company_id=user.company_id, user_id=user.user_id)


def can_read_folder(user: User, folder: Folder) -> bool:
    scope = folder_scope(user)
    if scope.company_id is not None and folder.company_id != scope.company_id:
        return False
    return scope.user_id is None or folder.user_id == scope.user_id


def can_create_folders(user: User) -> bool:
    return user.user_type in (Role.ADMIN, Role.CLIENT)


def can_write_folder(user: User, folder: Folder) -> bool:
    """Add media, start analyses, change meta_data."""
    return can_create_folders(user) and can_read_folder(user, folder)


def can_delete_folder(user: User, folder: Folder) -> bool:
    if user.user_type is Role.ADMIN:
        return True
    return _is_company_admin(user) and folder.company_id == user.company_id


def can_decide_folder(user: User, folder: Folder) -> bool:
    """Settle a folder that waits for an operator (domain/decisions.py): ADMIN and OPERATOR
    anywhere, a company admin or CLIENT_OPERATOR within its company; never a plain CLIENT."""
    if not can_read_folder(user, folder):
        return False
    return is_system_wide(user) or _is_company_admin(user) or user.user_type is Role.CLIENT_OPERATOR


_ANALYSIS_FLAGS = {
    "QUALITY": "can_start_analysis_quality",
    "BIOMETRY": "can_start_analysis_biometry",
    "COLLECTION": "can_start_analysis_collection",
    "DOCUMENTS": "can_start_analysis_documents",
}


def can_start_analysis(user: User, analysis_type: str) -> bool:
    if not can_create_folders(user):
        return False
    flag = _ANALYSIS_FLAGS.get(analysis_type.upper())
    return flag is None or bool(getattr(user, flag))


def can_read_user(user: User, target: User) -> bool:
    if user.user_id == target.user_id or is_system_wide(user):
        return True
    return _is_company_admin(user) and target.company_id == user.company_id


def can_manage_user(user: User, target_company_id: str | None, target_role: Role) -> bool:
    """Create, change or delete a user of `target_company_id` having `target_role`."""
    if user.user_type is Role.ADMIN:
        return True
    return (
        _is_company_admin(user)
        and target_company_id == user.company_id
        and target_role in (Role.CLIENT, Role.CLIENT_OPERATOR)
    )


def can_read_company(user: User, company_id: str) -> bool:
    return is_system_wide(user) or user.company_id == company_id


def can_administer_company_data(user: User, company_id: str) -> bool:
    """Create, change or delete what a company keeps besides folders (a plugin's watch lists):
    ADMIN, or the company's own admin."""
    return user.user_type is Role.ADMIN or (_is_company_admin(user) and user.company_id == company_id)


def can_manage_company(user: User) -> bool:
    return user.user_type is Role.ADMIN
