"""The statistics page and its CSV export, for the folders the user may see (statistics.py)."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime
from typing import Any

from litestar import Response, get
from litestar.params import FromQuery

from appliance.console.charts import Series, bar_chart, line_chart
from appliance.console.pages import render
from appliance.console.session import CurrentVisit
from appliance.console.statistics import (
    PERCENTILES,
    PRESETS,
    Period,
    QueueDepths,
    Statistics,
    compute,
    csv_rows,
    queue_depths,
)
from appliance.core.providers import Services
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.entities import User
from appliance.web.responses import SECURITY_HEADERS

__all__ = ["statistics_csv", "statistics_page"]

log = logging.getLogger("appliance.console")


def _statistics(services: AppServices, user: User, period: Period) -> Statistics:
    """The period's statistics within the user's scope."""
    scope = policy.folder_scope(user)
    timings = services.store.list_analysis_timings(
        finished_from=period.start, finished_to=period.end, company_id=scope.company_id, user_id=scope.user_id
    )
    return compute(timings, period)


def _queue_depths(services: AppServices, user: User, period: Period) -> QueueDepths | None:
    """The queue depths sampled in the period and now, for ADMIN and OPERATOR (None for others:
    the queues hold every company's work)."""
    if not policy.is_system_wide(user):
        return None
    peaks = services.store.list_queue_depth_peaks(period.bucket_bounds())
    now = None
    read_at = datetime.now(UTC)
    try:
        now = services.queues.pending_counts()
    except Exception as exc:  # Redis down or a queue file unreadable: the page says so
        log.warning("queue depths unavailable: %s: %s", type(exc).__name__, exc)
    return queue_depths(peaks, period, now, read_at)


def _charts(stats: Statistics, depths: QueueDepths | None) -> dict[str, Any]:
    types = list(stats.decisions)
    times = [start for start, _ in stats.per_minute]
    charts = {
        "per_minute": line_chart(
            times,
            [Series("analyses", [rate for _, rate in stats.per_minute])],
            title="Analyses ended per minute",
            unit="per minute",
        ),
        "decisions": bar_chart(
            types,
            [Series(r, [stats.decisions[t].get(r, 0) for t in types]) for r in stats.resolutions],
            title="Analyses by type and resolution",
            unit="analyses",
            stacked=True,
        ),
        "run_time": bar_chart(
            list(stats.run_time),
            [Series(f"p{q}", [p.seconds[q] for p in stats.run_time.values()]) for q in PERCENTILES],
            title="Run time percentiles by type",
            unit="seconds",
            stacked=False,
        ),
    }
    if depths is not None:
        charts["queues"] = line_chart(
            times,
            [Series(queue, values) for queue, values in depths.peaks.items()],
            title="Queue depth: the highest sample of each bucket",
            unit="tasks waiting",
        )
    return charts


@get("/statistics", sync_to_thread=True, summary="Statistics of a period, as plots")
def statistics_page(
    visit: CurrentVisit,
    services: Services,
    period: FromQuery[str | None] = None,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
) -> Response[Any]:
    user = visit.signed_in()
    chosen = Period.parse(period, start, end, datetime.now(UTC))
    stats = _statistics(services, user, chosen)
    depths = _queue_depths(services, user, chosen)
    context = {
        "page": "statistics",
        "stats": stats,
        "depths": depths,
        "charts": _charts(stats, depths),
        "presets": list(PRESETS),
        "preset": period if not (start or end) else "",
        "start": start or chosen.start.strftime("%Y-%m-%dT%H:%M"),
        "end": end or chosen.end.strftime("%Y-%m-%dT%H:%M"),
        "percentiles": PERCENTILES,
        "query": {"period": period or "", "start": start or "", "end": end or ""},
    }
    return render(visit, "statistics.html", context)


@get("/statistics.csv", sync_to_thread=True, summary="The statistics of a period as CSV")
def statistics_csv(
    visit: CurrentVisit,
    services: Services,
    period: FromQuery[str | None] = None,
    start: FromQuery[str | None] = None,
    end: FromQuery[str | None] = None,
) -> Response[str]:
    user = visit.signed_in()
    chosen = Period.parse(period, start, end, datetime.now(UTC))
    text = io.StringIO()
    rows = csv_rows(_statistics(services, user, chosen), _queue_depths(services, user, chosen))
    csv.writer(text, lineterminator="\n").writerows(rows)
    name = f"statistics-{chosen.start:%Y%m%dT%H%M}-{chosen.end:%Y%m%dT%H%M}.csv"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(text.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
