"""Password hashing with Argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from appliance.domain.errors import AppError, ErrorCode

__all__ = ["MIN_PASSWORD_LENGTH", "check_password_policy", "hash_password", "verify_password"]

MIN_PASSWORD_LENGTH = 8

_hasher = PasswordHasher()
#: Verified against when the email is unknown, so that a wrong email costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("no such user: constant-time padding")


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AppError(ErrorCode.INVALID_VALUE, f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    check_password_policy(password)
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """True if `password` matches; with no hash, spends the same time and answers False."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
