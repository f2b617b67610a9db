"""Background work a plugin does on its own data: what the `background_work` hook returns.

The appliance's scheduler enqueues the maintenance job `plugin_work` every
`scheduler.plugin_work_seconds`; a maintenance worker then calls each plugin's `run(services,
deadline)`, which does what is pending in small steps until `time.monotonic()` passes `deadline`
(finishing the step in hand) and returns counts for the log. `progress(services)` says how far it
is, for `appliance work` and the plugin's console pages. Work must be safe to run twice at once
(two hosts, a command beside the scheduler): each step re-reads what is pending and writes
conditionally. The blacklist plugin re-enrols its collections into a new embedding space this way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from appliance.sdk.services import PluginServices

__all__ = ["BackgroundWork", "WorkProgress"]


@dataclass(frozen=True, slots=True)
class WorkProgress:
    """How far one piece of background work is: `done` of `total` items, `failed` that cannot be done."""

    what: str
    done: int
    total: int
    failed: int = 0

    @property
    def finished(self) -> bool:
        return self.done + self.failed >= self.total

    def line(self) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        state = "done" if self.finished else "pending"
        return f"{self.what}: {self.done} of {self.total}{failed} ({state})"


class BackgroundWork(Protocol):
    def run(self, services: PluginServices, deadline: float) -> dict[str, int]:
        """Do pending work until `time.monotonic()` passes `deadline`; counts of what was done."""
        ...

    def progress(self, services: PluginServices) -> list[WorkProgress]:
        """How far each piece of the work is (empty when there is none)."""
        ...
