"""`GET /metrics`: this host's Prometheus metrics (appliance.queue.metrics), in the text format.

Not `litestar.plugins.prometheus`'s controller: it builds a bare registry at each scrape, with no
room for the scrape-time queue depths and model versions nor for clearing ended processes' live
gauges, and it is open to anyone. Here a scraper sends `Authorization: Bearer <metrics.token>`,
or an ADMIN's or OPERATOR's access token (they see the whole installation); anyone else is refused.
"""

from __future__ import annotations

import hmac

from litestar import Controller, Request, Response, get
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from appliance.auth.sessions import authenticate_token
from appliance.core.host_metrics import host_registry
from appliance.core.providers import Services
from appliance.domain import policy
from appliance.domain.errors import AppError, ErrorCode
from appliance.web.requests import access_token_of

__all__ = ["MetricsController"]


def _check_scraper(request: Request, services: Services) -> None:
    """Pass the metrics token, or an ADMIN's or OPERATOR's access token; otherwise 401 or 403."""
    token = access_token_of(request)
    if token is None:
        raise AppError(ErrorCode.AUTH_NOT_PROVIDED, "send the metrics token or an access token as a Bearer token")
    expected = services.settings.metrics.token
    if expected and hmac.compare_digest(token.encode(), expected.encode()):
        return
    user, _ = authenticate_token(services.store, token, services.settings.auth)
    if not policy.is_system_wide(user):
        raise AppError(ErrorCode.AUTH_FORBIDDEN, "metrics are for ADMIN and OPERATOR users and the metrics token")


class MetricsController(Controller):
    tags = ["system"]

    @get(
        "/metrics",
        sync_to_thread=True,
        summary="Prometheus metrics of every process of this host (metrics token, ADMIN or OPERATOR)",
    )
    def metrics(self, request: Request, services: Services) -> Response[bytes]:
        _check_scraper(request, services)
        registry = host_registry(services.settings.metrics_path, services.queues, services.models)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
