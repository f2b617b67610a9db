"""`metrics.enabled` decides whether the API serves /metrics and counts its requests."""

from __future__ import annotations

import pytest

from appliance.api.app import create_app
from appliance.api.request_metrics import RequestMetrics
from appliance.ops.settings import MetricsSettings, Settings


@pytest.mark.parametrize("enabled", [True, False])
def test_metrics_route_and_request_counting_follow_the_setting(enabled: bool) -> None:
    app = create_app(Settings(metrics=MetricsSettings(enabled=enabled)))
    assert ("/metrics" in {route.path for route in app.routes}) is enabled
    assert isinstance(app.asgi_handler, RequestMetrics) is enabled
