"""Failed logins through the Store, on SQLite and PostgreSQL (conftest.py): counted per key, each
concurrent failure counted, blocks that only grow, an account unlocked from every address, and
the retention's cut."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from appliance.store import Store
from appliance.store.protocol import LoginKey
from tests.store.test_store_contract import at

ADDRESS = LoginKey(account="", address="192.0.2.1")
ACCOUNT_HERE = LoginKey(account="a" * 64, address="192.0.2.1")
ACCOUNT_THERE = LoginKey(account="a" * 64, address="198.51.100.7")


def test_failures_are_counted_per_key_and_start_again_after_the_window(store: Store) -> None:
    assert [store.record_login_failure(ADDRESS, at(i), at(-60)) for i in range(3)] == [1, 2, 3]
    assert store.record_login_failure(ACCOUNT_HERE, at(3), at(-60)) == 1
    # the last failure (at 2) is before the window's start (at 2.5): the count starts again
    assert store.record_login_failure(ADDRESS, at(4), at(2.5)) == 1


def test_concurrent_failures_each_count(store: Store) -> None:
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda i: store.record_login_failure(ADDRESS, at(0), at(-60)), range(40)))
    assert sorted(counts) == list(range(1, 41))


def test_blocks_only_grow_and_apply_to_their_keys(store: Store) -> None:
    for key in (ADDRESS, ACCOUNT_HERE, ACCOUNT_THERE):
        store.record_login_failure(key, at(0), at(-60))
    assert store.login_blocked_until([ADDRESS, ACCOUNT_HERE], at(0)) is None
    store.block_login(ACCOUNT_HERE, at(10))
    store.block_login(ACCOUNT_HERE, at(5))  # an earlier block does not shorten it
    store.block_login(ADDRESS, at(3))
    assert store.login_blocked_until([ADDRESS, ACCOUNT_HERE], at(1)) == at(10)
    assert store.login_blocked_until([ADDRESS], at(1)) == at(3)
    assert store.login_blocked_until([ADDRESS], at(3)) is None
    assert store.login_blocked_until([ACCOUNT_THERE, LoginKey(account="", address="198.51.100.7")], at(1)) is None
    store.clear_login_failures(ACCOUNT_HERE)
    assert store.login_blocked_until([ACCOUNT_HERE], at(1)) is None
    assert store.login_blocked_until([ADDRESS], at(1)) == at(3)


def test_unlock_forgets_an_account_from_every_address_and_nothing_else(store: Store) -> None:
    for key in (ADDRESS, ACCOUNT_HERE, ACCOUNT_THERE):
        store.record_login_failure(key, at(0), at(-60))
        store.block_login(key, at(10))
    assert store.unlock_account("a" * 64) == 2
    assert store.login_blocked_until([ACCOUNT_HERE, ACCOUNT_THERE], at(1)) is None
    assert store.login_blocked_until([ADDRESS], at(1)) == at(10)
    assert store.unlock_account("b" * 64) == 0


def test_retention_deletes_rows_whose_failures_and_blocks_ended(store: Store) -> None:
    store.record_login_failure(ADDRESS, at(0), at(-60))
    store.record_login_failure(ACCOUNT_HERE, at(0), at(-60))
    store.block_login(ACCOUNT_HERE, at(30))
    store.record_login_failure(ACCOUNT_THERE, at(20), at(-60))
    assert store.delete_login_failures_before(at(10)) == 1  # ADDRESS: its last failure at 0, no block
    assert store.login_blocked_until([ACCOUNT_HERE], at(11)) == at(30)
    assert store.record_login_failure(ACCOUNT_THERE, at(21), at(-60)) == 2
    assert store.record_login_failure(ADDRESS, at(21), at(-60)) == 1
