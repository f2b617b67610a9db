"""Logins and tokens.

A login creates a session with two random tokens: the access token (sent on every call, in
`X-Forensic-Access-Token` or `Authorization: Bearer`) and the expire token (used once, to get a
new pair). Only their SHA-256 hashes are stored, so a copy of the database grants no access.
Access tokens expire after `auth.token_ttl_seconds` of inactivity (each use pushes the expiry
forward) or `auth.service_token_ttl_seconds` for service accounts. Wrong passwords slow their
source address down, and the account they named from that address (`throttle.py`); no account
is ever locked as a whole.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from appliance.auth.passwords import verify_password
from appliance.auth.throttle import login_keys, record_failure, refuse_if_throttled
from appliance.domain.entities import Session, User
from appliance.domain.errors import AppError, ErrorCode
from appliance.ops.settings import AuthSettings
from appliance.store.protocol import Store

__all__ = ["IssuedTokens", "authenticate_token", "hash_token", "log_in", "refresh"]

#: Sliding expiry is written at most this often per session, not on every request.
_EXTEND_GRANULARITY = timedelta(seconds=30)


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    user: User
    access_token: str
    expire_token: str
    access_expires_at: datetime
    expire_token_expires_at: datetime


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _now() -> datetime:
    return datetime.now(UTC)


def _access_ttl(user: User, auth: AuthSettings) -> timedelta:
    return timedelta(seconds=auth.service_token_ttl_seconds if user.is_service else auth.token_ttl_seconds)


def _issue(store: Store, user: User, auth: AuthSettings) -> IssuedTokens:
    now = _now()
    access, expire = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    access_ttl = _access_ttl(user, auth)
    session = Session(
        session_id=str(uuid.uuid4()),
        user_id=user.user_id,
        access_token_hash=hash_token(access),
        expire_token_hash=hash_token(expire),
        access_expires_at=now + access_ttl,
        expire_token_expires_at=now + max(access_ttl, timedelta(seconds=auth.refresh_ttl_seconds)),
    )
    store.create_session(session)
    return IssuedTokens(user, access, expire, session.access_expires_at, session.expire_token_expires_at)


_BAD_CREDENTIALS = "wrong email or password"


def log_in(store: Store, email: str, password: str, auth: AuthSettings, address: str) -> IssuedTokens:
    """Check the credentials sent from `address` and open a session. Wrong ones count towards the
    throttling of that address and of the account from it; a throttled login is refused with
    LOGIN_THROTTLED before the password is checked, whether or not the account exists."""
    now = _now()
    keys = login_keys(email, address)
    refuse_if_throttled(store, keys, now)
    user = store.get_user_by_email(email.strip())
    if not verify_password(user.password_hash if user else None, password) or user is None:
        record_failure(store, keys, now, auth)
        raise AppError(ErrorCode.AUTH_INVALID, _BAD_CREDENTIALS)
    if not user.is_active:
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "this account is disabled")
    store.clear_login_failures(keys[1])
    return _issue(store, user, auth)


def authenticate_token(store: Store, token: str, auth: AuthSettings) -> tuple[User, Session]:
    """The user an access token belongs to; extends the session's sliding expiry."""
    session = store.get_session_by_access_hash(hash_token(token))
    if session is None:
        raise AppError(ErrorCode.AUTH_INVALID, "access token not recognised")
    now = _now()
    if session.access_expires_at <= now:
        raise AppError(ErrorCode.AUTH_EXPIRED, "access token expired; refresh it or log in again")
    user = store.get_user(session.user_id)
    if user is None or not user.is_active:
        raise AppError(ErrorCode.AUTH_INVALID, "access token not recognised")
    new_expiry = now + _access_ttl(user, auth)
    if new_expiry - session.access_expires_at > _EXTEND_GRANULARITY:
        store.extend_session(session.session_id, new_expiry)
    return user, session


def refresh(store: Store, expire_token: str, caller_access_token: str | None, auth: AuthSettings) -> IssuedTokens:
    """Trade an expire token for a new token pair; the old session ends.

    If the caller also sends an access token, it must be of the same session (Oz answers 403
    "You have not access to refresh this session" otherwise).
    """
    session = store.get_session_by_expire_hash(hash_token(expire_token))
    if session is None:
        raise AppError(ErrorCode.AUTH_INVALID, "Session not found")
    if caller_access_token is not None and hash_token(caller_access_token) != session.access_token_hash:
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "You have not access to refresh this session")
    if session.expire_token_expires_at <= _now():
        store.delete_session(session.session_id)
        raise AppError(ErrorCode.AUTH_EXPIRED, "expire token expired; log in again")
    user = store.get_user(session.user_id)
    if user is None or not user.is_active:
        raise AppError(ErrorCode.AUTH_INVALID, "Session not found")
    with store.transaction():
        store.delete_session(session.session_id)
        return _issue(store, user, auth)
