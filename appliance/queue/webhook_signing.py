"""Signing and checking webhook bodies: the one place that knows the `X-Appliance-Signature` format.

The header value is `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + body)>`. The time is
part of the signed bytes, so a receiver that also checks it is recent (`tolerance_seconds`)
cannot be fooled by a replay of an old delivery. Integrators verify with the same `verify` (or
its five-line equivalent in their language, shown in the docs).
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["SIGNATURE_HEADER", "sign", "verify"]

SIGNATURE_HEADER = "X-Appliance-Signature"


def _digest(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The `X-Appliance-Signature` header value for `body` sent at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, body, timestamp)}"


def verify(secret: str, body: bytes, header: str, tolerance_seconds: float = 300, now: float | None = None) -> bool:
    """True if `header` signs `body` with `secret` and its time is within `tolerance_seconds` of `now`.

    Several `v1=` entries are accepted (any one matching is enough), so a sender may sign with an
    old and a new secret while a secret is being rotated.
    """
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1":
            signatures.append(value)
    if timestamp is None or not signatures:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = _digest(secret, body, timestamp)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
