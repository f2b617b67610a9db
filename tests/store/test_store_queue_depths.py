"""Queue depth samples through the Store, on SQLite and PostgreSQL (conftest.py): what the
scheduler records, the peaks per bucket the console's statistics read, and the retention's cut."""

from __future__ import annotations

from datetime import timedelta

from appliance.store import Store
from tests.store.test_store_contract import at


def peaks(store: Store, *bounds: float) -> list[tuple[float, str, int]]:
    """(bucket start in minutes, queue, depth) of the peaks between `bounds` (minutes)."""
    found = store.list_queue_depth_peaks([at(b) for b in bounds])
    return [((p.bucket_start - at(0)) / timedelta(minutes=1), p.queue, p.depth) for p in found]


def test_the_peak_of_each_bucket_and_queue(store: Store) -> None:
    store.record_queue_depths({"analysis": 3, "preview": 0}, at(0))
    store.record_queue_depths({"analysis": 9, "preview": 1}, at(1))
    store.record_queue_depths({"analysis": 4, "preview": 2}, at(2))
    store.record_queue_depths({"analysis": 5}, at(5.5))
    store.record_queue_depths({}, at(6))  # nothing to record: no row, no error

    assert peaks(store, 0, 3, 6) == [(0, "analysis", 9), (0, "preview", 2), (3, "analysis", 5)]
    assert peaks(store, 0, 1, 2, 3) == [
        (0, "analysis", 3),
        (0, "preview", 0),
        (1, "analysis", 9),
        (1, "preview", 1),
        (2, "analysis", 4),
        (2, "preview", 2),
    ]
    # a bucket holds its start and not its end; buckets without a sample give nothing
    assert peaks(store, 1, 2) == [(1, "analysis", 9), (1, "preview", 1)]
    assert peaks(store, 3, 5, 5.5) == []
    assert peaks(store, 5.5, 7) == [(5.5, "analysis", 5)]
    assert peaks(store, 0) == [] and peaks(store) == []


def test_old_samples_are_deleted_before_a_time(store: Store) -> None:
    for minute in range(4):
        store.record_queue_depths({"default": minute, "maintenance": 1}, at(minute))
    assert store.delete_queue_depths_before(at(2)) == 4  # two samples of two queues
    assert peaks(store, 0, 10) == [(0, "default", 3), (0, "maintenance", 1)]
    assert peaks(store, 0, 2) == []
    assert store.delete_queue_depths_before(at(2)) == 0
