"""When a failed attempt is tried again: after a delay that doubles with each attempt.

The appliance's retries are durable: the attempt count lives in the database (an analysis's
`attempt`, a delivery's `attempts`), and the next attempt is a delayed queue task or a delivery's
`next_attempt_at`, so a retry survives a crash of the process that failed. That is also why no
retry library (stamina, tenacity) serves here: those retry a call in the same process, sleeping
in between, which is what a queue's worker must not do (docs/architecture.md, "Libraries").
"""

from __future__ import annotations

__all__ = ["retry_delay"]


def retry_delay(base_seconds: float, attempt: int) -> float:
    """Seconds to wait after attempt number `attempt` (1 for the first) failed: `base_seconds`,
    then twice that, four times, and so on."""
    return base_seconds * 2 ** (attempt - 1)
