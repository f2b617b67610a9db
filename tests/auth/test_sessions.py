"""Logins, their throttling, sliding expiry and refresh, on the real SQLite store."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from appliance.auth.accounts import create_account
from appliance.auth.passwords import verify_password
from appliance.auth.sessions import authenticate_token, hash_token, log_in, refresh
from appliance.auth.throttle import login_keys
from appliance.domain.enums import Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.ops.settings import AuthSettings
from appliance.store import open_store
from appliance.store.protocol import Store

AUTH = AuthSettings(login_free_failures=3, login_address_free_failures=6, login_first_delay_seconds=60)
PASSWORD = "correct horse"
HERE, ELSEWHERE = "192.0.2.1", "198.51.100.7"


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
    issued = log_in(store, "  ADA@example.test ", PASSWORD, AUTH, HERE)
    assert store.get_session_by_access_hash(issued.access_token) is None
    assert store.get_session_by_access_hash(hash_token(issued.access_token)) is not None
    user, _ = authenticate_token(store, issued.access_token, AUTH)
    assert user.email == "Ada@Example.test"


def test_wrong_passwords_throttle_the_account_from_their_address_only(store: Store) -> None:
    for _ in range(AUTH.login_free_failures):
        assert _code(lambda: log_in(store, "ada@example.test", "wrong", AUTH, HERE)) is ErrorCode.AUTH_INVALID
    # one failure past the free ones: then even the right password waits, from that address
    assert _code(lambda: log_in(store, "ada@example.test", "wrong", AUTH, HERE)) is ErrorCode.AUTH_INVALID
    assert _code(lambda: log_in(store, "ADA@example.test", PASSWORD, AUTH, HERE)) is ErrorCode.LOGIN_THROTTLED
    log_in(store, "ada@example.test", PASSWORD, AUTH, ELSEWHERE)


def test_an_address_trying_many_accounts_is_throttled_for_all(store: Store) -> None:
    for i in range(AUTH.login_address_free_failures + 1):
        guess = f"guess{i}@example.test"
        assert _code(lambda: log_in(store, guess, "wrong", AUTH, HERE)) is ErrorCode.AUTH_INVALID  # noqa: B023
    assert _code(lambda: log_in(store, "ada@example.test", PASSWORD, AUTH, HERE)) is ErrorCode.LOGIN_THROTTLED
    log_in(store, "ada@example.test", PASSWORD, AUTH, ELSEWHERE)


def test_unknown_email_and_wrong_password_look_the_same(store: Store) -> None:
    """The same answers, in the same order: whether an email has an account never shows."""
    for _ in range(AUTH.login_free_failures + 1):
        unknown = pytest.raises(AppError, log_in, store, "nobody@example.test", PASSWORD, AUTH, HERE)
        wrong = pytest.raises(AppError, log_in, store, "ada@example.test", "wrong", AUTH, ELSEWHERE)
        assert (unknown.value.code, unknown.value.message) == (wrong.value.code, wrong.value.message)
    unknown = pytest.raises(AppError, log_in, store, "nobody@example.test", PASSWORD, AUTH, HERE)
    throttled = pytest.raises(AppError, log_in, store, "ada@example.test", PASSWORD, AUTH, ELSEWHERE)
    assert unknown.value.code is throttled.value.code is ErrorCode.LOGIN_THROTTLED
    waits = [error.value.details["retry_after_seconds"] for error in (unknown, throttled)]  # type: ignore[index]
    assert abs(waits[0] - waits[1]) <= 1  # the same delay, a second apart at most (a hash's time)


def test_a_login_that_succeeds_forgets_its_failures(store: Store) -> None:
    for _ in range(AUTH.login_free_failures):
        log_in_wrong = pytest.raises(AppError, log_in, store, "ada@example.test", "wrong", AUTH, HERE)
        assert log_in_wrong.value.code is ErrorCode.AUTH_INVALID
    log_in(store, "ada@example.test", PASSWORD, AUTH, HERE)
    for _ in range(AUTH.login_free_failures):  # free again
        assert _code(lambda: log_in(store, "ada@example.test", "wrong", AUTH, HERE)) is ErrorCode.AUTH_INVALID
    log_in(store, "ada@example.test", PASSWORD, AUTH, HERE)


def test_sliding_expiry_and_expired_tokens(store: Store) -> None:
    issued = log_in(store, "ada@example.test", PASSWORD, AUTH, HERE)
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
    issued = log_in(store, "svc@example.test", PASSWORD, AUTH, HERE)
    assert issued.access_expires_at > datetime.now(UTC) + timedelta(days=365 * 4)


def test_refresh_trades_the_pair_once(store: Store) -> None:
    first = log_in(store, "ada@example.test", PASSWORD, AUTH, HERE)
    other = log_in(store, "ada@example.test", PASSWORD, AUTH, HERE)
    assert _code(lambda: refresh(store, first.expire_token, other.access_token, AUTH)) is ErrorCode.AUTH_FORBIDDEN
    second = refresh(store, first.expire_token, first.access_token, AUTH)
    assert _code(lambda: authenticate_token(store, first.access_token, AUTH)) is ErrorCode.AUTH_INVALID
    assert _code(lambda: refresh(store, first.expire_token, None, AUTH)) is ErrorCode.AUTH_INVALID
    authenticate_token(store, second.access_token, AUTH)


def test_delays_grow_with_each_failure_past_the_free_ones(store: Store) -> None:
    auth = AuthSettings(login_free_failures=1, login_address_free_failures=100, login_first_delay_seconds=0.2)
    keys = login_keys("ada@example.test", HERE)
    delays = []
    for _ in range(5):
        before = datetime.now(UTC)
        assert _code(lambda: log_in(store, "ada@example.test", "wrong", auth, HERE)) is ErrorCode.AUTH_INVALID
        until = store.login_blocked_until(keys, before)
        delays.append(round((until - before).total_seconds(), 1) if until else 0.0)
        time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.01 if until else 0.0)
    # a free failure, then 0.2 s from the failure, doubled with each (the block starts with the login)
    assert delays == [0.0, 0.2, 0.4, 0.8, 1.6]
