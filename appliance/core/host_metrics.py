"""What a scrape of this host answers: every process's metric files added up, and what is read
at scrape time: the depth of each queue and the model versions active in this host's store.

The API's `/metrics` and the `appliance metrics` exporter serve the same `host_registry`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from appliance.core.queues import Queues
from appliance.ops.metrics_files import mark_ended_processes
from appliance.runtime import ModelError, ModelStore

__all__ = ["HostCollector", "host_registry"]

log = logging.getLogger(__name__)


class HostCollector(Collector):
    """This host's metrics, read afresh at every `collect` (see the module's docstring)."""

    def __init__(self, directory: Path, queues: Queues, models: ModelStore) -> None:
        self._directory = directory
        self._queues = queues
        self._models = models

    def collect(self) -> Iterator[Metric]:
        if self._directory.is_dir():  # made when the first process of the host started (use_directory)
            mark_ended_processes(self._directory)  # a killed process's live gauges go; its counts stay
            yield from MultiProcessCollector(None, path=str(self._directory)).collect()
        yield from self._queue_depths()
        yield self._model_versions()

    def _queue_depths(self) -> tuple[Metric, Metric]:
        depth = GaugeMetricFamily("appliance_queue_depth", "Tasks waiting in each queue", labels=["queue"])
        up = GaugeMetricFamily("appliance_queue_storage_up", "1 when every queue's storage answered this scrape")
        try:
            counts = self._queues.pending_counts()
        except Exception as exc:  # Redis down or a queue file unreadable: reported, the other metrics still served
            log.warning("queue depths unavailable: %s: %s", type(exc).__name__, exc)
            up.add_metric([], 0)
            return depth, up
        for queue, count in counts.items():
            depth.add_metric([queue], count)
        up.add_metric([], 1)
        return depth, up

    def _model_versions(self) -> Metric:
        info = InfoMetricFamily(
            "appliance_model",
            "Model versions active in this host's model store, with the signed bundle they came from",
            labels=["name", "version", "bundle_id"],
        )
        bundle = self._models.active_bundle()
        bundle_id = bundle.bundle_id or "" if bundle else ""
        try:
            active = {name: version for name in self._models.names() if (version := self._models.active_version(name))}
        except ModelError as exc:  # a broken active link: `appliance models list` says which
            log.warning("active model versions unavailable: %s", exc)
            return info
        for name, version in active.items():
            info.add_metric([name, version, bundle_id], {})
        return info


def host_registry(directory: Path, queues: Queues, models: ModelStore) -> CollectorRegistry:
    """A registry holding only this host's collector (no in-process default metrics)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(HostCollector(directory, queues, models))
    return registry
