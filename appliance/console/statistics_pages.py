"""The statistics page and its CSV export, for the folders the user may see (statistics.py)."""

from __future__ import annotations

import csv
import io
import logging
from datetime import UTC, datetime
from typing import Any

from litestar import Response, get
from litestar.params import FromQuery

from appliance.api.services import ApiServices, Services
from appliance.console.charts import Series, bar_chart, line_chart
from appliance.console.pages import SECURITY_HEADERS, render
from appliance.console.session import CurrentVisit
from appliance.console.statistics import PERCENTILES, PRESETS, Period, Statistics, compute, csv_rows
from appliance.domain import policy
from appliance.domain.entities import User

__all__ = ["statistics_csv", "statistics_page"]

log = logging.getLogger("appliance.console")


def _statistics(services: ApiServices, user: User, period: Period) -> tuple[Statistics, dict[str, int] | None]:
    """The period's statistics within the user's scope, and the queue depths for ADMIN and
    OPERATOR (None for others, or when the queues do not answer)."""
    scope = policy.folder_scope(user)
    timings = services.store.list_analysis_timings(
        finished_from=period.start, finished_to=period.end, company_id=scope.company_id, user_id=scope.user_id
    )
    depths = None
    if policy.is_system_wide(user):
        try:
            depths = services.queues.pending_counts()
        except Exception as exc:  # Redis down or a queue file unreadable: the page says so
            log.warning("queue depths unavailable: %s: %s", type(exc).__name__, exc)
    return compute(timings, period), depths


def _charts(stats: Statistics, depths: dict[str, int] | None) -> dict[str, Any]:
    types = list(stats.decisions)
    charts = {
        "per_minute": line_chart(stats.per_minute, title="Analyses ended per minute", unit="per minute"),
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
        charts["queues"] = bar_chart(
            list(depths), [Series("waiting", list(depths.values()))], title="Queue depth", unit="tasks", stacked=True
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
    stats, depths = _statistics(services, user, chosen)
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
    stats, depths = _statistics(services, user, chosen)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(csv_rows(stats, depths))
    name = f"statistics-{chosen.start:%Y%m%dT%H%M}-{chosen.end:%Y%m%dT%H%M}.csv"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{name}"'}
    return Response(text.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
