"""When the client sends a request again: on 429 and 503, after `Retry-After` or backing off, capped,
a few times at most (test_client_live.py sends uploads again to a real appliance)."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from appliance_client import RetryPolicy

FAST = RetryPolicy(attempts=3, backoff=0.01, max_delay=2.0)
QUEUE_FULL = b'{"error_code": 154, "error_name": "QUEUE_FULL", "error_message": "full", "details": null}'


def _answer(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=QUEUE_FULL)


@pytest.mark.parametrize(
    ("status", "headers", "attempt", "delay"),
    [
        (503, {"Retry-After": "1.5"}, 0, 1.5),
        (429, {"Retry-After": "120"}, 0, 2.0),  # capped
        (503, {}, 0, 0.01),
        (503, {}, 1, 0.02),  # backing off
        (429, {"Retry-After": "soon"}, 1, 0.02),
        (503, {}, 2, None),  # the third attempt was the last
        (500, {}, 0, None),
        (400, {"Retry-After": "1"}, 0, None),
    ],
)
def test_when_to_send_again(status: int, headers: dict[str, str], attempt: int, delay: float | None) -> None:
    assert FAST.delay(_answer(status, headers), attempt) == delay


def test_retry_after_as_an_http_date() -> None:
    later = email.utils.formatdate(time.time() + 60, usegmt=True)
    delay = RetryPolicy(max_delay=120).delay(_answer(503, {"Retry-After": later}), 0)
    assert delay is not None and 58 <= delay <= 60
