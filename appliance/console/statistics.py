"""Statistics of a period, computed from the analyses that ended in it (Store.list_analysis_timings).

- throughput: analyses ended per minute, averaged over buckets of 1 minute to 1 day (at most
  `MAX_BUCKETS` per period);
- decisions: how many analyses of each type ended with each resolution (FAILED included);
- processing time percentiles per type: run time (started to finished) and end to end
  (created to finished, queue wait included);
- queue depth: per queue, the highest of the samples the scheduler recorded in each bucket
  (Store.list_queue_depth_peaks), and the depth read from the queues at the time of the request
  (the console shows both to ADMIN and OPERATOR only: they count every company's work).

Periods are UTC. The numbers are added up in Python over the timings of the period, the same way
on SQLite and PostgreSQL; a period is at most `MAX_PERIOD` long.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from appliance.domain.errors import AppError, ErrorCode
from appliance.store.protocol import AnalysisTiming, QueueDepthPeak

__all__ = [
    "MAX_PERIOD",
    "PERCENTILES",
    "PRESETS",
    "Period",
    "Percentiles",
    "QueueDepths",
    "Statistics",
    "compute",
    "csv_rows",
    "percentile",
    "queue_depths",
]

PRESETS: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
}
DEFAULT_PRESET = "24h"
MAX_PERIOD = timedelta(days=366)
MAX_BUCKETS = 120
BUCKETS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 60, 360, 1440))
PERCENTILES = (50, 90, 95, 99)
_INPUT_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, read as UTC


@dataclass(frozen=True, slots=True)
class Period:
    start: datetime
    end: datetime
    bucket: timedelta

    @classmethod
    def of(cls, start: datetime, end: datetime) -> Period:
        if end <= start:
            raise AppError(ErrorCode.INVALID_VALUE, "the period must end after it starts")
        if end - start > MAX_PERIOD:
            raise AppError(ErrorCode.INVALID_VALUE, f"a period is at most {MAX_PERIOD.days} days long")
        length = end - start
        bucket = next((b for b in BUCKETS if length / b <= MAX_BUCKETS), BUCKETS[-1])
        return cls(start, end, bucket)

    @classmethod
    def parse(cls, preset: str | None, start: str | None, end: str | None, now: datetime) -> Period:
        """A preset (`1h`, `24h`, `7d`, `30d`) up to the end of `now`'s minute, or `start`..`end`
        written `YYYY-MM-DDTHH:MM` (UTC)."""
        if start or end:
            if not (start and end):
                raise AppError(ErrorCode.INVALID_VALUE, "give both the start and the end of the period")
            try:
                bounds = [datetime.strptime(v, _INPUT_FORMAT).replace(tzinfo=UTC) for v in (start, end)]
            except ValueError as exc:
                raise AppError(ErrorCode.INVALID_VALUE, "times must be written YYYY-MM-DDTHH:MM (UTC)") from exc
            return cls.of(bounds[0], bounds[1])
        name = preset or DEFAULT_PRESET
        if name not in PRESETS:
            raise AppError(ErrorCode.INVALID_VALUE, f"period must be one of {', '.join(PRESETS)}")
        until = now.replace(second=0, microsecond=0) + timedelta(minutes=1)  # the current minute included
        return cls.of(until - PRESETS[name], until)

    def bucket_starts(self) -> list[datetime]:
        count = math.ceil((self.end - self.start) / self.bucket)
        return [self.start + i * self.bucket for i in range(count)]

    def bucket_bounds(self) -> list[datetime]:
        """Every bucket's start, then the period's end (which cuts the last bucket short)."""
        return [*self.bucket_starts(), self.end]


@dataclass(frozen=True, slots=True)
class Percentiles:
    """Seconds at each of `PERCENTILES`, over `count` analyses."""

    count: int
    seconds: dict[int, float]


@dataclass(frozen=True, slots=True)
class Statistics:
    period: Period
    total: int
    #: (bucket start, analyses ended per minute in the bucket)
    per_minute: list[tuple[datetime, float]]
    #: analysis type -> resolution -> count
    decisions: dict[str, dict[str, int]]
    #: analysis type (and "all") -> percentiles of started..finished
    run_time: dict[str, Percentiles]
    #: analysis type (and "all") -> percentiles of created..finished
    end_to_end: dict[str, Percentiles]
    #: every resolution that occurs in `decisions`, sorted
    resolutions: list[str]


@dataclass(frozen=True, slots=True)
class QueueDepths:
    """The queues' depths over a period and now."""

    #: queue -> the highest depth sampled in each bucket of the period (None: no sample), by queue name
    peaks: dict[str, list[int | None]]
    #: queue -> tasks waiting when the page was asked for; None when the queues did not answer
    now: dict[str, int] | None
    #: when `now` was read
    read_at: datetime

    def table(self) -> list[tuple[str, int | None, int | None]]:
        """(queue, depth now, highest depth sampled in the period) for every queue either names."""
        now = self.now or {}
        return [
            (queue, now.get(queue), max((v for v in self.peaks.get(queue, []) if v is not None), default=None))
            for queue in sorted({*self.peaks, *now})
        ]


def queue_depths(
    peaks: Sequence[QueueDepthPeak], period: Period, now: Mapping[str, int] | None, read_at: datetime
) -> QueueDepths:
    """`peaks` (from the store, for `period.bucket_bounds()`) as one value per bucket and queue."""
    index = {start: i for i, start in enumerate(period.bucket_starts())}
    series: dict[str, list[int | None]] = {}
    for peak in peaks:
        series.setdefault(peak.queue, [None] * len(index))[index[peak.bucket_start]] = peak.depth
    return QueueDepths(dict(sorted(series.items())), dict(now) if now is not None else None, read_at)


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, interpolated linearly between ranks."""
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _percentiles(durations: Mapping[str, list[float]]) -> dict[str, Percentiles]:
    result = {}
    for key, values in sorted(durations.items()):
        ordered = sorted(values)
        result[key] = Percentiles(len(ordered), {q: percentile(ordered, q) for q in PERCENTILES})
    return result


def compute(timings: Sequence[AnalysisTiming], period: Period) -> Statistics:
    starts = period.bucket_starts()
    counts: Counter[int] = Counter()
    decisions: dict[str, Counter[str]] = {}
    run: dict[str, list[float]] = {}
    end_to_end: dict[str, list[float]] = {}
    for t in timings:
        counts[int((t.time_finished - period.start) / period.bucket)] += 1
        decisions.setdefault(t.type, Counter())[t.resolution_status.value] += 1
        for key in (t.type, "all"):
            end_to_end.setdefault(key, []).append((t.time_finished - t.time_created).total_seconds())
            if t.time_started is not None:
                run.setdefault(key, []).append((t.time_finished - t.time_started).total_seconds())
    minutes = period.bucket / timedelta(minutes=1)
    return Statistics(
        period=period,
        total=len(timings),
        per_minute=[(start, counts[i] / minutes) for i, start in enumerate(starts)],
        decisions={t: dict(sorted(c.items())) for t, c in sorted(decisions.items())},
        run_time=_percentiles(run),
        end_to_end=_percentiles(end_to_end),
        resolutions=sorted({r for c in decisions.values() for r in c}),
    )


def csv_rows(stats: Statistics, depths: QueueDepths | None) -> Iterator[list[str]]:
    """The statistics as one long table: metric, time, type, resolution, queue, value."""
    yield ["metric", "time", "type", "resolution", "queue", "value"]
    for start, rate in stats.per_minute:
        yield ["analyses_per_minute", start.isoformat(), "", "", "", f"{rate:.4f}"]
    for analysis_type, by_resolution in stats.decisions.items():
        for resolution, count in by_resolution.items():
            yield ["analyses", "", analysis_type, resolution, "", str(count)]
    for metric, table in (("run_seconds", stats.run_time), ("end_to_end_seconds", stats.end_to_end)):
        for analysis_type, p in table.items():
            for q, seconds in p.seconds.items():
                yield [f"{metric}_p{q}", "", analysis_type, "", "", f"{seconds:.3f}"]
    if depths is None:
        return
    starts = stats.period.bucket_starts()
    for queue, values in depths.peaks.items():
        for start, depth in zip(starts, values, strict=True):
            if depth is not None:
                yield ["queue_depth", start.isoformat(), "", "", queue, str(depth)]
    for queue, depth in (depths.now or {}).items():
        yield ["queue_depth_now", depths.read_at.isoformat(), "", "", queue, str(depth)]
