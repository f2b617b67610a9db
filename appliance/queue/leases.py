"""Leases on the analyses a worker holds.

A worker records the start of every analysis of a task as soon as it takes the task, before it
builds anything else, each with a lease of `queue.lease_seconds`; while it works, a heartbeat
thread renews the leases every third of that. A worker that dies stops renewing, and the expiry
job (`jobs.expire_analyses`) retries an analysis whose lease lapsed, within the lease rather
than the processing timeout. A renewal only extends the run it was taken for (same attempt,
still PROCESSING), so a run given up on cannot take its analysis back.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from appliance.store import Store

__all__ = ["held_analyses"]

log = logging.getLogger(__name__)

#: Renewals per lease: a lease lapses only after this many heartbeats in a row were missed.
RENEWALS_PER_LEASE = 3


@contextmanager
def held_analyses(store: Store, analysis_ids: Sequence[str], lease_seconds: float) -> Iterator[dict[str, int]]:
    """Start each of `analysis_ids` on a lease and renew the leases until the block ends.

    Yields the attempt number of each analysis started; one no longer PROCESSING (finished, failed
    or deleted meanwhile) is left out.
    """
    now = datetime.now(UTC)
    lease_until = now + timedelta(seconds=lease_seconds)
    attempts: dict[str, int] = {}
    for analysis_id in analysis_ids:
        attempt = store.start_analysis(analysis_id, now, lease_until)
        if attempt is None:
            log.info("analysis %s is no longer PROCESSING; nothing to do", analysis_id)
        else:
            attempts[analysis_id] = attempt
    stop = threading.Event()
    heartbeat = threading.Thread(
        target=_renew, args=(store, dict(attempts), lease_seconds, stop), name="lease-heartbeat", daemon=True
    )
    heartbeat.start()
    try:
        yield attempts
    finally:
        stop.set()
        heartbeat.join()


def _renew(store: Store, attempts: Mapping[str, int], lease_seconds: float, stop: threading.Event) -> None:
    """Every third of a lease, extend the lease of each run still in hand, until `stop` is set."""
    held = dict(attempts)
    while held and not stop.wait(lease_seconds / RENEWALS_PER_LEASE):
        until = datetime.now(UTC) + timedelta(seconds=lease_seconds)
        for analysis_id, attempt in list(held.items()):
            try:
                if not store.renew_lease(analysis_id, attempt, until):
                    del held[analysis_id]  # finished, failed, deleted, or given up on by the expiry job
            except Exception:  # the database is away for a moment: the next heartbeat tries again
                log.exception("could not renew the lease of analysis %s attempt %d", analysis_id, attempt)
