"""The plugins' background work (`background_work` hook), run and reported.

A maintenance worker runs it as the job `plugin_work` (queue/jobs.py), which the scheduler enqueues
every `scheduler.plugin_work_seconds`; `appliance work` shows its progress and can run it at once.
Each plugin's run gets the plugin's own services and the same deadline; a plugin whose run raises is
logged and the others still run.
"""

from __future__ import annotations

import logging
import time

from appliance.core.services import AppServices
from appliance.sdk.background import WorkProgress

__all__ = ["background_progress", "run_background_work"]

log = logging.getLogger(__name__)


def run_background_work(services: AppServices, budget_seconds: float) -> dict[str, int]:
    """Run every plugin's background work for at most about `budget_seconds`; counts by
    `<plugin>.<count>`, and `<plugin>.errors` for a run that raised."""
    deadline = time.monotonic() + budget_seconds
    counts: dict[str, int] = {}
    for plugin, work in services.plugins.background_work():
        try:
            done = work.run(services.plugin_services[plugin], deadline)
        except Exception as exc:  # one plugin's failure must not stop the others' work
            log.error("background work of %s failed: %s: %s", plugin, type(exc).__name__, exc)
            counts[f"{plugin}.errors"] = 1
            continue
        counts.update({f"{plugin}.{name}": value for name, value in done.items()})
    return counts


def background_progress(services: AppServices) -> list[tuple[str, WorkProgress]]:
    """Every plugin's background work and how far it is, as (plugin, progress)."""
    return [
        (plugin, progress)
        for plugin, work in services.plugins.background_work()
        for progress in work.progress(services.plugin_services[plugin])
    ]
