"""Logins, lockout, sliding expiry and refresh, on the real SQLite store."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.auth.accounts import create_account
from appliance.auth.passwords import verify_password
from appliance.auth.sessions import authenticate_token, hash_token, log_in, refresh
from appliance.domain.enums import Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.ops.settings import AuthSettings
from appliance.store import open_store
from appliance.store.protocol import Store

AUTH = AuthSettings(lockout_attempts=3, lockout_seconds=60)
PASSWORD = "correct horse"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.migrate()
    create_account(store, email="Ada@Example.test", password=PASSWORD, user_type=Role.ADMIN)
    yield store
    store.close()


def _code(call) -> ErrorCode:  # type: ignore[no-untyped-def]
    with pytest.raises(AppError) as info:
        call()
    return info.value.code


def test_passwords_are_hashed_with_argon2(store: Store) -> None:
    user = store.get_user_by_email("ada@example.test")
    assert user is not None and user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    assert verify_password(user.password_hash, PASSWORD) and not verify_password(user.password_hash, "wrong")
    assert (
        _code(lambda: create_account(store, email="x@y.test", password="short", user_type=Role.ADMIN))
        is ErrorCode.INVALID_VALUE
    )


def test_login_is_case_insensitive_and_tokens_are_stored_hashed(store: Store) -> None:
    issued = log_in(store, "  ADA@example.test ", PASSWORD, AUTH)
    assert store.get_session_by_access_hash(issued.access_token) is None
    assert store.get_session_by_access_hash(hash_token(issued.access_token)) is not None
    user, _ = authenticate_token(store, issued.access_token, AUTH)
    assert user.email == "Ada@Example.test"


def test_wrong_passwords_lock_the_account(store: Store) -> None:
    for _ in range(AUTH.lockout_attempts):
        assert _code(lambda: log_in(store, "ada@example.test", "wrong", AUTH)) is ErrorCode.AUTH_INVALID
    assert _code(lambda: log_in(store, "ada@example.test", PASSWORD, AUTH)) is ErrorCode.AUTH_LOCKED
    user = store.get_user_by_email("ada@example.test")
    assert user is not None and user.locked_until is not None
    store.update_user(replace(user, locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    log_in(store, "ada@example.test", PASSWORD, AUTH)
    assert store.get_user_by_email("ada@example.test").failed_logins == 0  # type: ignore[union-attr]


def test_unknown_email_and_wrong_password_look_the_same(store: Store) -> None:
    unknown = pytest.raises(AppError, log_in, store, "nobody@example.test", PASSWORD, AUTH)
    wrong = pytest.raises(AppError, log_in, store, "ada@example.test", "wrong", AUTH)
    assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)


def test_sliding_expiry_and_expired_tokens(store: Store) -> None:
    issued = log_in(store, "ada@example.test", PASSWORD, AUTH)
    session = store.get_session_by_access_hash(hash_token(issued.access_token))
    assert session is not None
    store.extend_session(session.session_id, datetime.now(UTC) + timedelta(seconds=60))
    authenticate_token(store, issued.access_token, AUTH)  # a use pushes the expiry to now + TTL
    extended = store.get_session_by_access_hash(hash_token(issued.access_token))
    assert extended is not None and extended.access_expires_at > datetime.now(UTC) + timedelta(
        seconds=AUTH.token_ttl_seconds - 5
    )
    store.extend_session(session.session_id, datetime.now(UTC) - timedelta(seconds=1))
    assert _code(lambda: authenticate_token(store, issued.access_token, AUTH)) is ErrorCode.AUTH_EXPIRED
    assert _code(lambda: authenticate_token(store, "garbage", AUTH)) is ErrorCode.AUTH_INVALID


def test_service_accounts_get_long_tokens(store: Store) -> None:
    service = create_account(store, email="svc@example.test", password=PASSWORD, user_type=Role.ADMIN)
    store.update_user(replace(service, is_service=True))
    issued = log_in(store, "svc@example.test", PASSWORD, AUTH)
    assert issued.access_expires_at > datetime.now(UTC) + timedelta(days=365 * 4)


def test_refresh_trades_the_pair_once(store: Store) -> None:
    first = log_in(store, "ada@example.test", PASSWORD, AUTH)
    other = log_in(store, "ada@example.test", PASSWORD, AUTH)
    assert _code(lambda: refresh(store, first.expire_token, other.access_token, AUTH)) is ErrorCode.AUTH_FORBIDDEN
    second = refresh(store, first.expire_token, first.access_token, AUTH)
    assert _code(lambda: authenticate_token(store, first.access_token, AUTH)) is ErrorCode.AUTH_INVALID
    assert _code(lambda: refresh(store, first.expire_token, None, AUTH)) is ErrorCode.AUTH_INVALID
    authenticate_token(store, second.access_token, AUTH)
