"""The webhook signature as an integrator checks it."""

from __future__ import annotations

import hashlib
import hmac

from appliance.queue.webhook_signing import sign, verify

BODY = b'{"folder_id": "f1", "resolution_status": "FINISHED"}'
NOW = 1_800_000_000


def test_signature_is_hmac_sha256_of_time_dot_body() -> None:
    header = sign("s3cret", BODY, NOW)
    expected = hmac.new(b"s3cret", f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_verify_accepts_own_signature_within_tolerance() -> None:
    header = sign("s3cret", BODY, NOW)
    assert verify("s3cret", BODY, header, now=NOW)
    assert verify("s3cret", BODY, header, now=NOW + 299)


def test_verify_rejects_wrong_secret_changed_body_and_old_time() -> None:
    header = sign("s3cret", BODY, NOW)
    assert not verify("other", BODY, header, now=NOW)
    assert not verify("s3cret", BODY + b" ", header, now=NOW)
    assert not verify("s3cret", BODY, header, now=NOW + 301)
    assert not verify("s3cret", BODY, header, tolerance_seconds=10, now=NOW - 11)


def test_verify_rejects_a_time_that_was_not_signed() -> None:
    digest = sign("s3cret", BODY, NOW).split(",v1=")[1]
    assert not verify("s3cret", BODY, f"t={NOW + 1},v1={digest}", now=NOW)


def test_verify_rejects_malformed_headers() -> None:
    for header in ("", "garbage", f"t={NOW}", "v1=abc", f"t=soon,v1={'0' * 64}"):
        assert not verify("s3cret", BODY, header, now=NOW)


def test_verify_accepts_any_listed_signature_for_secret_rotation() -> None:
    old = sign("old", BODY, NOW).split(",v1=")[1]
    new = sign("new", BODY, NOW).split(",v1=")[1]
    header = f"t={NOW},v1={old},v1={new}"
    assert verify("new", BODY, header, now=NOW)
    assert verify("old", BODY, header, now=NOW)
