"""The Prometheus metrics every appliance process records (docs/metrics.md lists them).

Every metric has labels, so no value (and, in multiprocess mode, no file) exists before a process
records something; `metrics_files.use_directory` can therefore switch a process to multiprocess
mode at its start even when this module was imported earlier. Label values come from small,
fixed sets: route templates (never raw paths), installed analysis types (anything else is
`OTHER_TYPE`), stage and queue names. Values are numbers and names only: nothing about a person.

Queue depths and model versions are not recorded here: whoever serves `/metrics` reads them when
it is scraped (`appliance.core.host_metrics`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import wraps
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "ANALYSES",
    "ANALYSES_IN_PROGRESS",
    "ANALYSIS_SECONDS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "OTHER_TYPE",
    "STAGE_SECONDS",
    "WEBHOOK_DELIVERIES",
    "WORKERS",
    "Stopwatch",
    "analysis_finished",
    "analysis_type_label",
    "analysis_running",
    "stage",
    "timed",
    "timed_items",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

#: The `type` label of analyses whose type no installed plugin provides (their names are free text).
OTHER_TYPE = "other"

_SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_ANALYSIS_SECONDS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0)
_STAGE_SECONDS = (0.0005, 0.001, 0.0025, *_SECONDS)

HTTP_REQUESTS = Counter(
    "appliance_http_requests",
    "HTTP requests answered, by method, route template and status",
    ["method", "route", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "appliance_http_request_duration_seconds",
    "Time from a request's arrival to the end of its response, by method and route template",
    ["method", "route"],
    buckets=_SECONDS,
)
ANALYSES = Counter(
    "appliance_analyses", "Analyses that reached a final state, by type and resolution", ["type", "resolution"]
)
ANALYSIS_SECONDS = Histogram(
    "appliance_analysis_duration_seconds",
    "Run time of the attempt that brought an analysis to its final state, by type",
    ["type"],
    buckets=_ANALYSIS_SECONDS,
)
ANALYSES_IN_PROGRESS = Gauge(
    "appliance_analyses_in_progress", "Analyses a worker is running now, by type", ["type"], multiprocess_mode="livesum"
)
STAGE_SECONDS = Histogram(
    "appliance_stage_duration_seconds",
    "Time spent in one stage of the analysis pipeline (prepare, analyze, save, face_track, decode, detect, "
    "landmarks, embed)",
    ["stage"],
    buckets=_STAGE_SECONDS,
)
WEBHOOK_DELIVERIES = Counter(
    "appliance_webhook_deliveries", "Webhook delivery attempts, by outcome (delivered, retrying, failed)", ["outcome"]
)
WORKERS = Gauge("appliance_workers", "Queue workers running, by queue", ["queue"], multiprocess_mode="livesum")


@dataclass(slots=True)
class Stopwatch:
    """Seconds since it was made, until `stop`."""

    started: float = field(default_factory=time.perf_counter)
    stopped: float | None = None

    def stop(self) -> float:
        self.stopped = time.perf_counter()
        return self.seconds

    @property
    def seconds(self) -> float:
        return (self.stopped if self.stopped is not None else time.perf_counter()) - self.started


@contextmanager
def stage(name: str) -> Iterator[Stopwatch]:
    """Time the block as stage `name` (also when it raises: the time was spent)."""
    watch = Stopwatch()
    try:
        yield watch
    finally:
        STAGE_SECONDS.labels(name).observe(watch.stop())


def timed(name: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: every call of the function is timed as stage `name`."""

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        @wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            with stage(name):
                return func(*args, **kwargs)

        return wrapper

    return decorate


def timed_items(name: str, items: Iterable[T]) -> Generator[T, None, None]:
    """`items`, timing the production of each one as stage `name` (e.g. decoding each frame).
    Closing it closes `items` (a decoder's file)."""
    iterator = iter(items)
    try:
        while True:
            watch = Stopwatch()
            try:
                item = next(iterator)
            except StopIteration:
                return
            STAGE_SECONDS.labels(name).observe(watch.stop())
            yield item
    finally:
        if isinstance(iterator, Generator):
            iterator.close()


def analysis_type_label(analysis_type: str, installed: Collection[str]) -> str:
    """`analysis_type` when an installed plugin provides it, else OTHER_TYPE (clients name types freely)."""
    return analysis_type if analysis_type in installed else OTHER_TYPE


@contextmanager
def analysis_running(analysis_type: str) -> Iterator[None]:
    """Count the block as one analysis of `analysis_type` in progress."""
    gauge = ANALYSES_IN_PROGRESS.labels(analysis_type)
    gauge.inc()
    try:
        yield
    finally:
        gauge.dec()


def analysis_finished(analysis_type: str, resolution: str, seconds: float | None = None) -> None:
    """An analysis reached its final state; `seconds` is the run time of its last attempt, when one ran."""
    ANALYSES.labels(analysis_type, resolution).inc()
    if seconds is not None:
        ANALYSIS_SECONDS.labels(analysis_type).observe(seconds)
