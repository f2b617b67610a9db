"""CSRF tokens of the console's forms: a signed double-submit token bound to the login session.

Every browser gets a random nonce in an HttpOnly, SameSite=Strict cookie. A form carries
`HMAC(secret_key, nonce + session)`, where session is the hash of the session cookie (empty
before login). A forged form from another site has neither the nonce nor the session, and a
token copied from one session is worthless in another. Nothing is stored on the server.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

__all__ = ["csrf_token", "new_nonce", "valid_csrf_token"]


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def csrf_token(secret_key: str, nonce: str, session_token: str | None) -> str:
    session_hash = hashlib.sha256((session_token or "").encode()).hexdigest()
    message = f"console-csrf\n{nonce}\n{session_hash}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()


def valid_csrf_token(secret_key: str, nonce: str | None, session_token: str | None, sent: str | None) -> bool:
    """Whether `sent` is the token of this nonce and session (constant-time comparison)."""
    if not nonce or not sent:
        return False
    return hmac.compare_digest(csrf_token(secret_key, nonce, session_token), sent)
