"""Login throttling: growing delays per source address, and per account from each address.

Every failed login is counted twice (store rows `login_failures`): under its source address, and
under the account it named from that address. Past a number of free failures, each further one
blocks its key for a delay that doubles, up to a cap; a login under a blocked key is refused with
LOGIN_THROTTLED (157) and a Retry-After, before its password is checked. No account is ever
locked as a whole: wrong passwords from one address slow that address down, and the account's
owner still logs in from another. The account is the sha256 of the email as typed (lower case),
whether or not a user has it, so unknown and existing accounts answer alike. A login that
succeeds forgets its account's failures from that address (not the address's own count, or an
attacker could reset it with an account of their own). A count starts again after
`auth.login_failure_window_seconds` without a failure. The rows live in the database, so every
API process and host sees the same counts.
"""

from __future__ import annotations

import hashlib
import math
from datetime import datetime, timedelta

from appliance.domain.errors import AppError, ErrorCode
from appliance.domain.retries import retry_delay
from appliance.ops.settings import AuthSettings
from appliance.store.protocol import LoginKey, Store

__all__ = ["account_of", "login_keys", "record_failure", "refuse_if_throttled"]

_MOST_DOUBLINGS = 40


def account_of(email: str) -> str:
    """The key of the account an email names (typed in any case, with or without spaces around)."""
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def login_keys(email: str, address: str) -> tuple[LoginKey, LoginKey]:
    """The address's own key and the account's from that address."""
    return LoginKey(account="", address=address), LoginKey(account=account_of(email), address=address)


def refuse_if_throttled(store: Store, keys: tuple[LoginKey, ...], now: datetime) -> None:
    """LOGIN_THROTTLED with the seconds to wait, if any of `keys` is blocked at `now`."""
    until = store.login_blocked_until(keys, now)
    if until is not None:
        seconds = max(1, math.ceil((until - now).total_seconds()))
        raise AppError(
            ErrorCode.LOGIN_THROTTLED,
            f"too many failed logins from this address or for this account: try again in {seconds} s",
            {"retry_after_seconds": seconds},  # also the Retry-After header (appliance.web.responses)
        )


def _delay(failures: int, free: int, auth: AuthSettings) -> float:
    if failures <= free:
        return 0.0
    doublings = min(failures - free, _MOST_DOUBLINGS)  # the cap is reached long before; no float overflow
    return min(retry_delay(auth.login_first_delay_seconds, doublings), auth.login_max_delay_seconds)


def record_failure(store: Store, keys: tuple[LoginKey, LoginKey], now: datetime, auth: AuthSettings) -> None:
    """Count a failed login under both keys and block each that is past its free failures."""
    restart_before = now - timedelta(seconds=auth.login_failure_window_seconds)
    address, account = keys
    for key, free in ((address, auth.login_address_free_failures), (account, auth.login_free_failures)):
        with store.transaction():
            delay = _delay(store.record_login_failure(key, now, restart_before), free, auth)
            if delay > 0:
                store.block_login(key, now + timedelta(seconds=delay))
