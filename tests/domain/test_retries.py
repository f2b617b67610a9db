"""The retry schedule of analyses and webhook deliveries: the delay doubles with each attempt."""

from __future__ import annotations

from appliance.domain.retries import retry_delay


def test_the_delay_doubles_from_the_base() -> None:
    assert [retry_delay(30.0, attempt) for attempt in range(1, 5)] == [30.0, 60.0, 120.0, 240.0]
