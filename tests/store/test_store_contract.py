"""The Store contract: every case runs on SQLite and on PostgreSQL (see conftest.py)."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal, TypeVar

import pytest

from appliance.domain.entities import Analysis, Company, Folder, Media, Session, User, WebhookDelivery
from appliance.domain.enums import AnalysisState, FolderStatus, MediaKind, Resolution, Role
from appliance.domain.errors import AppError, ErrorCode
from appliance.store import AnalysisFilter, FolderFilter, MetaCondition, Store, open_store
from appliance.store.protocol import HostPart

T = TypeVar("T")
T0 = datetime(2024, 3, 1, 12, 0, 0, 123456, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]


def new_id() -> str:
    return str(uuid.uuid4())


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def make_company(store: Store, name: str | None = None, **fields: Any) -> Company:
    return store.create_company(
        Company(company_id=new_id(), name=name or f"company-{new_id()}", webhook_secret="s", **fields)
    )


def make_user(store: Store, company_id: str | None = None, email: str | None = None, **fields: Any) -> User:
    user = User(
        user_id=new_id(),
        email=email or f"{new_id()}@example.com",
        user_type=Role.CLIENT,
        password_hash="hash",
        company_id=company_id,
        **fields,
    )
    return store.create_user(user)


def make_folder(store: Store, company_id: str | None = None, user_id: str | None = None, **fields: Any) -> Folder:
    return store.create_folder(Folder(folder_id=new_id(), company_id=company_id, user_id=user_id or new_id(), **fields))


def make_media(store: Store, folder_id: str, **fields: Any) -> Media:
    defaults: dict[str, Any] = {
        "kind": MediaKind.IMAGE,
        "sha256": new_id().replace("-", ""),
        "extension": "jpg",
        "mime_type": "image/jpeg",
        "size_bytes": 1234,
    }
    return store.add_media(Media(media_id=new_id(), folder_id=folder_id, **(defaults | fields)))


def make_analysis(store: Store, folder_id: str, **fields: Any) -> Analysis:
    return store.create_analysis(
        Analysis(**({"analysis_id": new_id(), "folder_id": folder_id, "type": "QUALITY"} | fields))
    )


def make_session(
    store: Store, user_id: str, *, access: datetime | None = None, refresh: datetime | None = None
) -> Session:
    return store.create_session(
        Session(
            session_id=new_id(),
            user_id=user_id,
            access_token_hash=f"a-{new_id()}",
            expire_token_hash=f"e-{new_id()}",
            access_expires_at=access or at(15),
            expire_token_expires_at=refresh or at(60),
        )
    )


def make_delivery(store: Store, folder_id: str, **fields: Any) -> WebhookDelivery:
    return store.create_delivery(
        WebhookDelivery(
            **({"delivery_id": new_id(), "folder_id": folder_id, "url": "http://hook", "company_id": None} | fields)
        )
    )


def conflict(call: Callable[[], object]) -> AppError:
    with pytest.raises(AppError) as caught:
        call()
    assert caught.value.code == ErrorCode.CONFLICT
    return caught.value


def in_threads(count: int, call: Callable[[int], T]) -> list[T]:
    """Run `call(i)` for i in range(count), all released at once."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait()
        return call(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def ids(items: list[Any], attribute: str) -> list[str]:
    return [getattr(item, attribute) for item in items]


# Lifecycle ----------------------------------------------------------------------------------------

MIGRATIONS = [
    "0001_initial",
    "0002_hosts",
    "0003_operator_decisions",
    "0004_queue_depth_samples",
    "0005_capture_sessions",
    "0006_login_failures",
    "0007_analysis_leases",
    "0008_host_parts",
]


def test_migrate_applies_each_migration_once(store_url: str) -> None:
    store = open_store(store_url)
    try:
        assert store.schema_version() is None
        assert store.migrate() == MIGRATIONS
        assert store.schema_version() == MIGRATIONS[-1]
        assert store.migrate() == []
        make_company(store)
    finally:
        store.close()


def test_migrate_from_two_threads_at_once(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(2)]
    try:
        results = in_threads(2, lambda i: stores[i].migrate())
        assert sorted(name for applied in results for name in applied) == MIGRATIONS
        assert all(store.schema_version() == MIGRATIONS[-1] for store in stores)
    finally:
        for store in stores:
            store.close()


def test_migrate_from_two_processes_at_once(store_url: str) -> None:
    script = "import sys; from appliance.store import open_store; print(','.join(open_store(sys.argv[1]).migrate()))"
    processes = [
        subprocess.Popen([sys.executable, "-c", script, store_url], cwd=REPO_ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [process.communicate(timeout=60)[0].strip() for process in processes]
    assert [process.returncode for process in processes] == [0, 0]
    assert sorted(name for output in outputs for name in output.split(",") if name) == MIGRATIONS


def test_ping(store: Store) -> None:
    store.ping()


def test_open_store_rejects_unknown_schemes() -> None:
    for url in ("mysql://localhost/db", "sqlite://relative.db", "sqlite:///", "appliance.db"):
        with pytest.raises(ValueError):
            open_store(url)


def test_open_store_creates_the_sqlite_directory(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'a' / 'b' / 'store.db'}")
    try:
        assert store.migrate() == MIGRATIONS
        assert (tmp_path / "a" / "b" / "store.db").is_file()
    finally:
        store.close()


# Companies ----------------------------------------------------------------------------------------


def test_company_round_trip(store: Store) -> None:
    meta = {"ключ": "значение 🚀", "nested": {"list": [1, 2.5, None, True, "x"]}, "big": 2**53}
    created = make_company(store, "Acme", webhook_url="https://hooks.example/a", meta_data=meta)
    assert created.time_created is not None and created.time_created.tzinfo is not None
    assert created.time_updated == created.time_created
    assert store.get_company(created.company_id) == created
    assert created.meta_data == meta
    assert store.get_company(new_id()) is None


def test_company_name_is_unique(store: Store) -> None:
    make_company(store, "Acme")
    conflict(lambda: make_company(store, "Acme"))
    other = make_company(store, "Other")
    conflict(lambda: store.update_company(replace(other, name="Acme")))


def test_list_companies(store: Store) -> None:
    names = ["Beta", "alpha", "Gamma 100%", "Delta_one", "AlphaBet"]
    companies = {name: make_company(store, name) for name in names}
    page, total = store.list_companies()
    assert total == 5 and [c.name for c in page] == sorted(names)
    page, total = store.list_companies(search_text="ALPHA")
    assert total == 2 and {c.name for c in page} == {"alpha", "AlphaBet"}
    assert store.list_companies(search_text="0%")[1] == 1
    assert store.list_companies(search_text="a_o")[1] == 1  # "_" is literal, not a wildcard
    assert store.list_companies(search_text="%")[1] == 1
    wanted = [companies["Beta"].company_id, companies["alpha"].company_id]
    page, total = store.list_companies(company_ids=wanted)
    assert total == 2 and sorted(c.company_id for c in page) == sorted(wanted)
    assert store.list_companies(company_ids=[]) == ([], 0)
    page, total = store.list_companies(offset=1, limit=2)
    assert total == 5 and [c.name for c in page] == sorted(names)[1:3]


def test_update_company(store: Store) -> None:
    company = make_company(store, "Acme", time_created=at(0), time_updated=at(0))
    updated = store.update_company(replace(company, name="Acme 2", webhook_url="https://x", meta_data={"a": 1}))
    assert (updated.name, updated.webhook_url, updated.meta_data) == ("Acme 2", "https://x", {"a": 1})
    assert updated.time_created == at(0)
    assert updated.time_updated is not None and updated.time_updated > at(0)
    assert store.get_company(company.company_id) == updated
    with pytest.raises(AppError) as caught:
        store.update_company(replace(company, company_id=new_id()))
    assert caught.value.code == ErrorCode.NOT_EXIST


def test_delete_company_only_when_empty(store: Store) -> None:
    with_user, with_folder, empty = make_company(store), make_company(store), make_company(store)
    make_user(store, with_user.company_id)
    make_folder(store, with_folder.company_id)
    conflict(lambda: store.delete_company(with_user.company_id))
    conflict(lambda: store.delete_company(with_folder.company_id))
    assert store.get_company(with_user.company_id) is not None
    assert store.delete_company(empty.company_id) is True
    assert store.get_company(empty.company_id) is None
    assert store.delete_company(empty.company_id) is False


# Users --------------------------------------------------------------------------------------------


def test_user_round_trip(store: Store) -> None:
    company = make_company(store)
    user = make_user(
        store,
        company.company_id,
        email="Jane.Doe@Example.com",
        first_name="Jane",
        last_name="Doe",
        middle_name="Ä",
        is_admin=True,
        is_service=True,
        is_active=False,
        can_start_analysis_documents=False,
        meta_data={"x": [1]},
    )
    assert user.user_type is Role.CLIENT
    assert (user.is_admin, user.is_active, user.can_start_analysis_documents) == (True, False, False)
    assert store.get_user(user.user_id) == user
    assert store.get_user_by_email("jane.doe@EXAMPLE.com") == user
    assert store.get_user_by_email("nobody@example.com") is None
    assert store.get_user(new_id()) is None


def test_email_is_unique_regardless_of_case(store: Store) -> None:
    make_user(store, email="jane@example.com")
    error = conflict(lambda: make_user(store, email="JANE@example.COM"))
    assert "jane@example.com".upper() in error.message.upper()
    other = make_user(store, email="john@example.com")
    conflict(lambda: store.update_user(replace(other, email="Jane@Example.com")))


def test_user_of_a_missing_company_is_refused(store: Store) -> None:
    with pytest.raises(AppError) as caught:
        make_user(store, new_id())
    assert caught.value.code == ErrorCode.NOT_EXIST


def test_list_users(store: Store) -> None:
    acme, other = make_company(store), make_company(store)
    ann = make_user(store, acme.company_id, email="ann@acme.io", first_name="Ann")
    bob = make_user(store, acme.company_id, email="bob@acme.io", last_name="Annex")
    make_user(store, other.company_id, email="carl@other.io")
    page, total = store.list_users(company_id=acme.company_id)
    assert total == 2 and ids(page, "user_id") == [ann.user_id, bob.user_id]
    page, total = store.list_users(search_text="ANN")
    assert total == 2 and ids(page, "user_id") == [ann.user_id, bob.user_id]
    assert store.list_users(search_text="other.io")[1] == 1
    page, total = store.list_users(offset=2, limit=5)
    assert total == 3 and [u.email for u in page] == ["carl@other.io"]


def test_update_user(store: Store) -> None:
    user = make_user(store)
    changed = replace(user, first_name="New", is_active=False, user_type=Role.ADMIN)
    updated = store.update_user(changed)
    assert updated == replace(changed, time_updated=updated.time_updated)
    assert store.get_user(user.user_id) == updated


def test_delete_user_drops_sessions_and_keeps_folders(store: Store) -> None:
    company = make_company(store)
    user = make_user(store, company.company_id)
    session = make_session(store, user.user_id)
    folder = make_folder(store, company.company_id, user.user_id)
    assert store.delete_user(user.user_id) is True
    assert store.get_user(user.user_id) is None
    assert store.get_session_by_access_hash(session.access_token_hash) is None
    assert store.get_folder(folder.folder_id) == folder
    assert store.delete_user(user.user_id) is False


# Sessions -----------------------------------------------------------------------------------------


def test_sessions(store: Store) -> None:
    user = make_user(store)
    session = make_session(store, user.user_id)
    assert session.time_created is not None
    assert store.get_session_by_access_hash(session.access_token_hash) == session
    assert store.get_session_by_expire_hash(session.expire_token_hash) == session
    assert store.get_session_by_access_hash(session.expire_token_hash) is None
    store.extend_session(session.session_id, at(45))
    assert store.get_session_by_access_hash(session.access_token_hash) == replace(session, access_expires_at=at(45))
    store.delete_session(session.session_id)
    assert store.get_session_by_expire_hash(session.expire_token_hash) is None


def test_session_of_a_missing_user_is_refused(store: Store) -> None:
    with pytest.raises(AppError) as caught:
        make_session(store, new_id())
    assert caught.value.code == ErrorCode.NOT_EXIST


def test_delete_user_sessions(store: Store) -> None:
    user, other = make_user(store), make_user(store)
    for _ in range(3):
        make_session(store, user.user_id)
    kept = make_session(store, other.user_id)
    assert store.delete_user_sessions(user.user_id) == 3
    assert store.delete_user_sessions(user.user_id) == 0
    assert store.get_session_by_access_hash(kept.access_token_hash) == kept


def test_delete_expired_sessions(store: Store) -> None:
    user = make_user(store)
    both_expired = make_session(store, user.user_id, access=at(1), refresh=at(2))
    refresh_alive = make_session(store, user.user_id, access=at(1), refresh=at(20))
    alive = make_session(store, user.user_id, access=at(15), refresh=at(20))
    assert store.delete_expired_sessions(at(10)) == 1
    assert store.get_session_by_access_hash(both_expired.access_token_hash) is None
    assert store.get_session_by_access_hash(refresh_alive.access_token_hash) == refresh_alive
    assert store.get_session_by_access_hash(alive.access_token_hash) == alive


# Folders ------------------------------------------------------------------------------------------


def test_folder_round_trip(store: Store) -> None:
    folder = make_folder(
        store,
        resolution_status=FolderStatus.PROCESSING,
        system_resolution=Resolution.OPERATOR_REQUIRED,
        resolution_endpoint="https://hooks.example/f",
        meta_data={"name": "Zoë", "deep": {"a": [{"b": "ß"}]}},
        technical_meta_data={"ip": "10.0.0.1"},
    )
    stored = store.get_folder(folder.folder_id)
    assert stored == folder
    assert stored is not None and stored.resolution_status is FolderStatus.PROCESSING
    assert stored.system_resolution is Resolution.OPERATOR_REQUIRED
    assert store.get_folder(new_id()) is None


def test_folder_of_a_missing_company_is_refused(store: Store) -> None:
    with pytest.raises(AppError) as caught:
        make_folder(store, new_id())
    assert caught.value.code == ErrorCode.NOT_EXIST


def test_update_folder(store: Store) -> None:
    folder = make_folder(store, time_created=at(0), time_updated=at(0))
    changed = replace(
        folder,
        meta_data={"k": "v"},
        resolution_endpoint="https://new",
        resolution_status=FolderStatus.FINISHED,
        system_resolution=Resolution.SUCCESS,
    )
    updated = store.update_folder(changed)
    assert updated.time_updated is not None and updated.time_updated > at(0)
    assert updated == replace(changed, time_updated=updated.time_updated)
    assert store.get_folder(folder.folder_id) == updated


def test_set_folder_outcome_reports_a_change_once(store: Store) -> None:
    folder = make_folder(store, time_updated=at(0), time_created=at(0))
    assert store.set_folder_outcome(folder.folder_id, FolderStatus.FINISHED, Resolution.SUCCESS) is True
    assert store.set_folder_outcome(folder.folder_id, FolderStatus.FINISHED, Resolution.SUCCESS) is False
    stored = store.get_folder(folder.folder_id)
    assert stored is not None
    assert (stored.resolution_status, stored.system_resolution) == (FolderStatus.FINISHED, Resolution.SUCCESS)
    assert stored.time_updated is not None and stored.time_updated > at(0)
    assert store.set_folder_outcome(folder.folder_id, FolderStatus.FINISHED, Resolution.DECLINED) is True
    assert store.set_folder_outcome(new_id(), FolderStatus.FINISHED, Resolution.SUCCESS) is False


def test_racing_folder_outcomes_have_one_winner(store: Store) -> None:
    folder = make_folder(store)
    wins = in_threads(
        6, lambda i: store.set_folder_outcome(folder.folder_id, FolderStatus.FINISHED, Resolution.SUCCESS)
    )
    assert sorted(wins) == [False] * 5 + [True]


def listed(store: Store, **filters: Any) -> list[str]:
    """folder_ids of one list_folders page, also checking the total against an unpaged listing."""
    page, total = store.list_folders(FolderFilter(**filters))
    everything, all_total = store.list_folders(FolderFilter(**(filters | {"offset": 0, "limit": 10_000})))
    assert total == all_total == len(everything)
    return ids(page, "folder_id")


def test_list_folders_scopes_and_ids(store: Store) -> None:
    acme, other = make_company(store), make_company(store)
    ann, bob = new_id(), new_id()
    f1 = make_folder(store, acme.company_id, ann, time_created=at(1))
    f2 = make_folder(store, acme.company_id, bob, time_created=at(2))
    f3 = make_folder(store, other.company_id, ann, time_created=at(3))
    f4 = make_folder(store, None, bob, time_created=at(4))
    assert listed(store) == ids([f4, f3, f2, f1], "folder_id")
    assert listed(store, company_id=acme.company_id) == ids([f2, f1], "folder_id")
    assert listed(store, user_id=ann) == ids([f3, f1], "folder_id")
    assert listed(store, company_id=acme.company_id, user_id=bob) == [f2.folder_id]
    assert listed(store, folder_ids=[f1.folder_id, f4.folder_id, new_id()]) == ids([f4, f1], "folder_id")
    assert listed(store, folder_ids=[]) == []


def test_list_folders_by_status_matches_either_column(store: Store) -> None:
    processing = make_folder(store, resolution_status=FolderStatus.PROCESSING, time_created=at(1))
    success = make_folder(
        store, resolution_status=FolderStatus.FINISHED, system_resolution=Resolution.SUCCESS, time_created=at(2)
    )
    declined = make_folder(
        store, resolution_status=FolderStatus.FINISHED, system_resolution=Resolution.DECLINED, time_created=at(3)
    )
    assert listed(store, resolution_status=[Resolution.SUCCESS]) == [success.folder_id]
    assert listed(store, resolution_status=[FolderStatus.FINISHED]) == ids([declined, success], "folder_id")
    assert listed(store, resolution_status=[FolderStatus.PROCESSING, Resolution.DECLINED]) == ids(
        [declined, processing], "folder_id"
    )
    # INITIAL is the system_resolution of the PROCESSING folder.
    assert listed(store, resolution_status=[Resolution.INITIAL]) == [processing.folder_id]
    assert listed(store, resolution_status=[]) == []


def test_list_folders_by_time_range_inclusive(store: Store) -> None:
    folders = [make_folder(store, time_created=at(i), time_updated=at(10 - i)) for i in range(5)]
    assert listed(store, time_created_min=at(1), time_created_max=at(3), sort_desc=False) == ids(
        folders[1:4], "folder_id"
    )
    assert listed(store, time_created_min=at(3)) == ids([folders[4], folders[3]], "folder_id")
    assert listed(store, time_updated_max=at(7), sort_field="time_updated", sort_desc=False) == ids(
        [folders[4], folders[3]], "folder_id"
    )
    assert listed(store, time_updated_min=at(6), time_updated_max=at(6)) == [folders[4].folder_id]
    # Bounds in another timezone mean the same instants.
    plus_two = timezone(timedelta(hours=2))
    assert listed(store, time_created_min=at(4).astimezone(plus_two)) == [folders[4].folder_id]


def test_list_folders_sorting_and_paging(store: Store) -> None:
    folders = [make_folder(store, time_created=at(i), time_updated=at(100 - i)) for i in range(7)]
    by_created = ids(folders, "folder_id")
    assert listed(store, sort_field="time_created", sort_desc=False) == by_created
    assert listed(store, sort_field="time_created", sort_desc=True) == by_created[::-1]
    assert listed(store, sort_field="time_updated", sort_desc=False) == by_created[::-1]
    assert listed(store, sort_field="time_updated", sort_desc=True) == by_created
    page, total = store.list_folders(FolderFilter(sort_desc=False, offset=2, limit=3))
    assert total == 7 and ids(page, "folder_id") == by_created[2:5]
    page, total = store.list_folders(FolderFilter(offset=10, limit=3))
    assert (page, total) == ([], 7)
    with pytest.raises(ValueError):
        store.list_folders(FolderFilter(sort_field="folder_id"))  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        store.list_folders(FolderFilter(limit=-1))


def test_list_folders_by_meta_data(store: Store) -> None:
    a = make_folder(
        store, meta_data={"client": "Ünïcode ✓", "n": 5, "flag": True, "dotted.key": "x"}, time_created=at(1)
    )
    b = make_folder(store, meta_data={"client": "other", "n": 6, "flag": False, "quo'te\"": "y"}, time_created=at(2))
    c = make_folder(store, meta_data={"nested": {"client": "Ünïcode ✓"}}, time_created=at(3))

    def meta(*conditions: tuple[str, Literal["==", "!="], str]) -> list[str]:
        return listed(
            store, meta_data=[MetaCondition(key, op, value) for key, op, value in conditions], sort_desc=False
        )

    assert meta(("client", "==", "Ünïcode ✓")) == [a.folder_id]
    assert meta(("client", "!=", "Ünïcode ✓")) == [b.folder_id, c.folder_id]  # a missing key is "not equal"
    assert meta(("n", "==", "5")) == [a.folder_id]
    assert meta(("flag", "==", "true")) == [a.folder_id]
    assert meta(("flag", "==", "false")) == [b.folder_id]
    assert meta(("dotted.key", "==", "x")) == [a.folder_id]
    assert meta(("quo'te\"", "==", "y")) == [b.folder_id]
    assert meta(("client", "==", "other"), ("n", "!=", "5")) == [b.folder_id]
    assert meta(("client", "==", "other"), ("n", "==", "5")) == []
    assert meta(("missing", "==", "x")) == []
    assert meta(("x' OR '1'='1", "==", "x")) == []


def test_delete_folder_cascades_and_returns_its_media(store: Store) -> None:
    folder, other = make_folder(store), make_folder(store)
    media = [make_media(store, folder.folder_id) for _ in range(3)]
    kept_media = make_media(store, other.folder_id)
    analysis = make_analysis(store, folder.folder_id)
    delivery = make_delivery(store, folder.folder_id)
    assert store.delete_folder(folder.folder_id) == media
    assert store.get_folder(folder.folder_id) is None
    assert all(store.get_media(m.media_id) is None for m in media)
    assert store.get_analysis(analysis.analysis_id) is None
    assert store.get_delivery(delivery.delivery_id) is None
    assert store.get_media(kept_media.media_id) == kept_media
    assert store.delete_folder(folder.folder_id) == []


def test_list_folder_ids_created_before(store: Store) -> None:
    folders = [make_folder(store, time_created=at(i)) for i in (3, 1, 2, 5)]
    assert store.list_folder_ids_created_before(at(4)) == ids([folders[1], folders[2], folders[0]], "folder_id")
    assert store.list_folder_ids_created_before(at(4), limit=2) == ids([folders[1], folders[2]], "folder_id")
    assert store.list_folder_ids_created_before(at(1)) == []


# Media --------------------------------------------------------------------------------------------


def test_media_round_trip_and_update(store: Store) -> None:
    folder = make_folder(store)
    media = make_media(
        store,
        folder.folder_id,
        kind=MediaKind.VIDEO,
        original_name="видео.mp4",
        tags=["video_selfie", "orientation_portrait"],
        width=720,
        height=1280,
        frame_count=90,
        duration_seconds=3.25,
        has_thumbnail=True,
        size_bytes=5 * 2**30,
        meta_data={"é": ["ü", {"k": None}]},
    )
    assert store.get_media(media.media_id) == media
    assert media.kind is MediaKind.VIDEO and media.tags == ["video_selfie", "orientation_portrait"]
    updated = store.update_media(replace(media, tags=["photo_id_front"], has_preview=True, width=None))
    assert (updated.tags, updated.has_preview, updated.width) == (["photo_id_front"], True, None)
    assert store.get_media(media.media_id) == updated
    assert store.get_media(new_id()) is None


def test_media_of_a_missing_folder_is_refused(store: Store) -> None:
    with pytest.raises(AppError) as caught:
        make_media(store, new_id())
    assert caught.value.code == ErrorCode.NOT_EXIST


def test_list_media_in_upload_order(store: Store) -> None:
    folder, other, empty = make_folder(store), make_folder(store), make_folder(store)
    # One request's files share a timestamp; the order is still the upload order.
    media = [make_media(store, folder.folder_id, time_created=at(0)) for _ in range(5)]
    other_media = [make_media(store, other.folder_id) for _ in range(2)]
    assert store.list_media(folder.folder_id) == media
    assert store.list_media(empty.folder_id) == []
    grouped = store.list_media_of_folders([folder.folder_id, other.folder_id, empty.folder_id])
    assert grouped == {folder.folder_id: media, other.folder_id: other_media, empty.folder_id: []}
    assert store.list_media_of_folders([]) == {}


def test_delete_media_and_count_by_sha256(store: Store) -> None:
    folder = make_folder(store)
    first = make_media(store, folder.folder_id, sha256="abc")
    second = make_media(store, folder.folder_id, sha256="abc")
    make_media(store, folder.folder_id, sha256="def")
    assert store.count_media_with_sha256("abc") == 2
    assert store.delete_media(first.media_id) == first
    assert store.delete_media(first.media_id) is None
    assert store.count_media_with_sha256("abc") == 1
    assert store.list_media(folder.folder_id)[0] == second
    assert store.count_media_with_sha256("nothing") == 0


# Analyses -----------------------------------------------------------------------------------------


def test_analysis_round_trip(store: Store) -> None:
    folder = make_folder(store)
    analysis = make_analysis(
        store,
        folder.folder_id,
        type="BIOMETRY",
        params={"threshold": 0.85, "extract": True},
        source_media=[new_id(), new_id()],
        time_queued=at(0),
        meta_data={"ü": "ß"},
    )
    assert analysis.state is AnalysisState.PROCESSING and analysis.resolution_status is Resolution.PROCESSING
    assert analysis.attempt == 0 and analysis.model_versions == {} and analysis.results_media == []
    assert store.get_analysis(analysis.analysis_id) == analysis
    assert store.get_analysis(new_id()) is None


def test_list_analyses_in_creation_order_with_filters(store: Store) -> None:
    folder, other = make_folder(store), make_folder(store)
    quality = make_analysis(store, folder.folder_id, type="QUALITY", time_created=at(0))
    biometry = make_analysis(store, folder.folder_id, type="BIOMETRY", time_created=at(0))
    failed = make_analysis(
        store, folder.folder_id, type="QUALITY", state=AnalysisState.FAILED, resolution_status=Resolution.FAILED
    )
    elsewhere = make_analysis(store, other.folder_id)
    assert store.list_analyses(folder.folder_id) == [quality, biometry, failed]

    def filtered(**fields: Any) -> list[Analysis]:
        return store.list_analyses(folder.folder_id, AnalysisFilter(**fields))

    assert filtered(analysis_ids=[biometry.analysis_id, elsewhere.analysis_id]) == [biometry]
    assert filtered(exclude_analysis_ids=[quality.analysis_id]) == [biometry, failed]
    assert filtered(types=["QUALITY"]) == [quality, failed]
    assert filtered(exclude_types=["QUALITY"]) == [biometry]
    assert filtered(states=[AnalysisState.FAILED]) == [failed]
    assert filtered(exclude_states=[AnalysisState.FAILED], types=["QUALITY"]) == [quality]
    assert filtered(analysis_ids=[]) == []
    assert filtered(exclude_types=[]) == [quality, biometry, failed]
    grouped = store.list_analyses_of_folders([folder.folder_id, other.folder_id, new_id()])
    assert list(grouped.values())[:2] == [[quality, biometry, failed], [elsewhere]]
    assert list(grouped.values())[2] == []


def test_start_analysis_counts_attempts(store: Store) -> None:
    analysis = make_analysis(store, make_folder(store).folder_id)
    assert store.start_analysis(analysis.analysis_id, at(1)) == 1
    assert store.start_analysis(analysis.analysis_id, at(2)) == 2
    stored = store.get_analysis(analysis.analysis_id)
    assert stored is not None and (stored.attempt, stored.time_started) == (2, at(2))
    assert store.start_analysis(new_id(), at(3)) is None


def finish(store: Store, analysis_id: str, attempt: int, resolution: Resolution = Resolution.SUCCESS) -> bool:
    return store.finish_analysis(
        analysis_id,
        attempt,
        resolution=resolution,
        results_data={"confidence_spoofing": 0.01, "текст": "✓"},
        results_media=[{"source_media_id": "m1", "results_data": {"score": 0.99}}],
        plugin="builtin",
        plugin_version="1.2.3",
        model_versions={"liveness": "v7"},
        now=at(10),
    )


def test_finish_analysis_only_in_the_current_attempt(store: Store) -> None:
    analysis = make_analysis(store, make_folder(store).folder_id)
    store.start_analysis(analysis.analysis_id, at(1))
    store.start_analysis(analysis.analysis_id, at(2))
    before = store.get_analysis(analysis.analysis_id)
    assert finish(store, analysis.analysis_id, 1) is False
    assert store.get_analysis(analysis.analysis_id) == before
    assert finish(store, analysis.analysis_id, 2, Resolution.DECLINED) is True
    done = store.get_analysis(analysis.analysis_id)
    assert done is not None
    assert (done.state, done.resolution_status, done.time_finished) == (
        AnalysisState.FINISHED,
        Resolution.DECLINED,
        at(10),
    )
    assert done.results_data == {"confidence_spoofing": 0.01, "текст": "✓"}
    assert done.results_media == [{"source_media_id": "m1", "results_data": {"score": 0.99}}]
    assert (done.plugin, done.plugin_version, done.model_versions) == ("builtin", "1.2.3", {"liveness": "v7"})
    assert finish(store, analysis.analysis_id, 2) is False
    assert store.start_analysis(analysis.analysis_id, at(11)) is None
    assert store.fail_analysis(analysis.analysis_id, 2, error_code=121, error_message="late", now=at(12)) is False
    assert store.fail_analysis(analysis.analysis_id, None, error_code=121, error_message="late", now=at(12)) is False
    assert store.get_analysis(analysis.analysis_id) == done


def test_fail_analysis(store: Store) -> None:
    folder = make_folder(store)
    first, second = make_analysis(store, folder.folder_id), make_analysis(store, folder.folder_id)
    store.start_analysis(first.analysis_id, at(1))
    assert store.fail_analysis(first.analysis_id, 2, error_code=121, error_message="boom", now=at(2)) is False
    assert store.fail_analysis(
        first.analysis_id, 1, error_code=ErrorCode.ANALYSIS_PLUGIN_ERROR, error_message="boom", now=at(2)
    )
    failed = store.get_analysis(first.analysis_id)
    assert failed is not None
    assert (failed.state, failed.resolution_status) == (AnalysisState.FAILED, Resolution.FAILED)
    assert (failed.error_code, failed.error_message, failed.time_finished) == (121, "boom", at(2))
    # Without an attempt: whatever run is current (here: never started).
    assert store.fail_analysis(second.analysis_id, None, error_code=123, error_message="expired", now=at(3)) is True
    assert finish(store, second.analysis_id, 0) is False


def test_requeue_analysis(store: Store) -> None:
    analysis = make_analysis(store, make_folder(store).folder_id, time_queued=at(0))
    assert store.requeue_analysis(analysis.analysis_id, 0, at(1)) is False  # never started
    store.start_analysis(analysis.analysis_id, at(1))
    assert store.requeue_analysis(analysis.analysis_id, 2, at(5)) is False
    assert store.requeue_analysis(analysis.analysis_id, 1, at(5)) is True
    assert store.requeue_analysis(analysis.analysis_id, 1, at(6)) is False  # that run was already given up
    requeued = store.get_analysis(analysis.analysis_id)
    assert requeued is not None
    assert (requeued.state, requeued.attempt, requeued.time_started, requeued.time_queued) == (
        AnalysisState.PROCESSING,
        1,
        None,
        at(5),
    )
    assert store.start_analysis(analysis.analysis_id, at(7)) == 2
    assert finish(store, analysis.analysis_id, 1) is False
    assert finish(store, analysis.analysis_id, 2) is True
    assert store.requeue_analysis(analysis.analysis_id, 2, at(8)) is False


def test_concurrent_starts_get_distinct_attempts(store: Store) -> None:
    analysis = make_analysis(store, make_folder(store).folder_id)
    attempts = in_threads(8, lambda i: store.start_analysis(analysis.analysis_id, at(i)))
    assert sorted(a for a in attempts if a is not None) == list(range(1, 9))


def test_racing_finishes_have_one_winner(store: Store) -> None:
    analysis = make_analysis(store, make_folder(store).folder_id)
    attempt = store.start_analysis(analysis.analysis_id, at(1))
    assert attempt == 1
    results = in_threads(
        6,
        lambda i: (
            finish(store, analysis.analysis_id, attempt)
            if i % 2
            else store.fail_analysis(analysis.analysis_id, attempt, error_code=122, error_message="expired", now=at(2))
        ),
    )
    assert sorted(results) == [False] * 5 + [True]


def test_update_analysis_meta(store: Store) -> None:
    analysis = make_analysis(store, make_folder(store).folder_id, meta_data={"a": 1})
    updated = store.update_analysis_meta(analysis.analysis_id, {"b": ["ü"]})
    assert updated is not None and updated.meta_data == {"b": ["ü"]}
    assert updated == replace(analysis, meta_data={"b": ["ü"]}, time_updated=updated.time_updated)
    assert store.get_analysis(analysis.analysis_id) == updated
    assert store.update_analysis_meta(new_id(), {}) is None


def test_list_stuck_analyses(store: Store) -> None:
    folder = make_folder(store)
    started_long_ago = make_analysis(store, folder.folder_id, time_created=at(0))
    store.start_analysis(started_long_ago.analysis_id, at(1))
    started_recently = make_analysis(store, folder.folder_id, time_created=at(0))
    store.start_analysis(started_recently.analysis_id, at(50))
    queued_long_ago = make_analysis(store, folder.folder_id, time_queued=at(2), time_created=at(2))
    queued_recently = make_analysis(store, folder.folder_id, time_queued=at(55), time_created=at(0))
    never_queued = make_analysis(store, folder.folder_id, time_created=at(3))
    finished = make_analysis(store, folder.folder_id, time_created=at(0))
    store.start_analysis(finished.analysis_id, at(1))
    finish(store, finished.analysis_id, 1)
    lease_lapsed = make_analysis(store, folder.folder_id, time_created=at(1))
    store.start_analysis(lease_lapsed.analysis_id, at(50), lease_until=at(59))
    lease_held = make_analysis(store, folder.folder_id, time_created=at(1))
    store.start_analysis(lease_held.analysis_id, at(50), lease_until=at(61))
    stuck = store.list_stuck_analyses(started_before=at(30), queued_before=at(40), now=at(60))
    assert ids(stuck, "analysis_id") == ids(
        [started_long_ago, lease_lapsed, queued_long_ago, never_queued], "analysis_id"
    )
    assert started_recently.analysis_id not in ids(stuck, "analysis_id")
    assert queued_recently.analysis_id not in ids(stuck, "analysis_id")
    assert lease_held.analysis_id not in ids(stuck, "analysis_id")


def test_leases_are_renewed_only_by_the_run_in_hand(store: Store) -> None:
    analysis = make_analysis(store, make_folder(store).folder_id, time_queued=at(0))
    assert store.renew_lease(analysis.analysis_id, 0, at(5)) is False  # not started
    assert store.start_analysis(analysis.analysis_id, at(1), lease_until=at(2)) == 1
    assert store.renew_lease(analysis.analysis_id, 2, at(5)) is False
    assert store.renew_lease(analysis.analysis_id, 1, at(5)) is True
    leased = store.get_analysis(analysis.analysis_id)
    assert leased is not None and leased.lease_expires_at == at(5)
    assert store.requeue_analysis(analysis.analysis_id, 1, at(6)) is True
    requeued = store.get_analysis(analysis.analysis_id)
    assert requeued is not None and (requeued.time_started, requeued.lease_expires_at) == (None, None)
    assert store.renew_lease(analysis.analysis_id, 1, at(9)) is False  # given up on: it cannot take it back
    assert store.start_analysis(analysis.analysis_id, at(7), lease_until=at(8)) == 2
    assert finish(store, analysis.analysis_id, 2)
    done = store.get_analysis(analysis.analysis_id)
    assert done is not None and done.lease_expires_at is None
    assert store.renew_lease(analysis.analysis_id, 2, at(9)) is False


def test_an_unstarted_analysis_is_leased_once_and_requeued_once(store: Store) -> None:
    folder = make_folder(store)
    waiting = make_analysis(store, folder.folder_id, time_queued=at(0))
    fresh = make_analysis(store, folder.folder_id, time_queued=at(10))
    started = make_analysis(store, folder.folder_id, time_queued=at(0))
    store.start_analysis(started.analysis_id, at(1), lease_until=at(100))
    assert ids(store.list_unleased_waiting_analyses(queued_before=at(5)), "analysis_id") == [waiting.analysis_id]
    assert store.lease_unstarted(waiting.analysis_id, 1, at(20)) is False  # not in that attempt
    assert store.lease_unstarted(started.analysis_id, 1, at(20)) is False  # started
    assert store.lease_unstarted(waiting.analysis_id, 0, at(20)) is True
    assert store.lease_unstarted(waiting.analysis_id, 0, at(30)) is False  # leased already
    assert store.list_unleased_waiting_analyses(queued_before=at(15)) == [fresh]
    stuck = store.list_stuck_analyses(started_before=at(0), queued_before=at(0), now=at(21))
    assert ids(stuck, "analysis_id") == [waiting.analysis_id]
    results = in_threads(4, lambda i: store.requeue_analysis(waiting.analysis_id, 0, at(22)))
    assert sorted(results) == [False, False, False, True]
    requeued = store.get_analysis(waiting.analysis_id)
    assert requeued is not None
    assert (requeued.attempt, requeued.time_queued, requeued.lease_expires_at) == (0, at(22), None)


def test_list_unresolved_folder_ids(store: Store) -> None:
    overdue, recent, running, empty, final = (make_folder(store) for _ in range(5))
    for folder in (overdue, recent, running, empty):
        store.set_folder_outcome(folder.folder_id, FolderStatus.PROCESSING, Resolution.PROCESSING)
    for folder, ended_at in ((overdue, 1), (recent, 20), (running, 1), (final, 1)):
        analysis = make_analysis(store, folder.folder_id)
        store.start_analysis(analysis.analysis_id, at(0))
        store.fail_analysis(analysis.analysis_id, 1, error_code=121, error_message="x", now=at(ended_at))
    make_analysis(store, running.folder_id)  # still PROCESSING
    store.set_folder_outcome(final.folder_id, FolderStatus.FINISHED, Resolution.FAILED)
    assert store.list_unresolved_folder_ids(ended_before=at(10)) == [overdue.folder_id]


def test_media_present(store: Store) -> None:
    folder = make_folder(store)
    first, second = make_media(store, folder.folder_id), make_media(store, folder.folder_id)
    make_media(store, folder.folder_id, sha256=first.sha256)
    absent = new_id().replace("-", "")
    assert store.media_present(media_ids=[first.media_id, new_id()], sha256s=[first.sha256, absent, second.sha256]) == (
        {first.media_id},
        {first.sha256, second.sha256},
    )
    assert store.media_present() == (set(), set())


# Webhook deliveries -------------------------------------------------------------------------------


def test_delivery_round_trip_and_update(store: Store) -> None:
    folder = make_folder(store)
    delivery = make_delivery(store, folder.folder_id, company_id=new_id(), next_attempt_at=at(0))
    assert store.get_delivery(delivery.delivery_id) == delivery
    assert delivery.status == "PENDING" and delivery.attempts == 0
    changed = replace(delivery, status="FAILED", attempts=7, last_status_code=503, last_error="Service Unavailable")
    updated = store.update_delivery(changed)
    assert updated == replace(changed, time_updated=updated.time_updated)
    assert store.get_delivery(delivery.delivery_id) == updated
    assert store.list_deliveries(folder.folder_id) == [updated]
    assert store.get_delivery(new_id()) is None


def test_list_due_deliveries(store: Store) -> None:
    folder = make_folder(store)
    later = make_delivery(store, folder.folder_id, next_attempt_at=at(9))
    sooner = make_delivery(store, folder.folder_id, next_attempt_at=at(5))
    at_now = make_delivery(store, folder.folder_id, next_attempt_at=at(10))
    make_delivery(store, folder.folder_id, next_attempt_at=at(11))
    make_delivery(store, folder.folder_id, next_attempt_at=at(1), status="DELIVERED")
    make_delivery(store, folder.folder_id, next_attempt_at=at(1), status="FAILED")
    assert store.list_due_deliveries(at(10)) == [sooner, later, at_now]
    assert store.list_due_deliveries(at(10), limit=2) == [sooner, later]
    assert store.list_due_deliveries(at(0)) == []


# Transactions -------------------------------------------------------------------------------------


class Boom(Exception):
    pass


def test_transaction_rolls_back_everything_on_error(store: Store) -> None:
    company_id = new_id()
    with pytest.raises(Boom), store.transaction():
        store.create_company(Company(company_id=company_id, name="Acme", webhook_secret="s"))
        with store.transaction():  # joins the outer transaction
            make_user(store, company_id)
            folder = make_folder(store, company_id)
            make_media(store, folder.folder_id)
        raise Boom
    assert store.get_company(company_id) is None
    assert store.list_users() == ([], 0)
    assert store.list_folders(FolderFilter()) == ([], 0)


def test_nested_block_commits_with_the_outer_one(store: Store) -> None:
    company_id = new_id()

    def seen_elsewhere() -> bool:
        with ThreadPoolExecutor(1) as pool:
            return pool.submit(store.get_company, company_id).result() is not None

    with store.transaction():
        with store.transaction():
            store.create_company(Company(company_id=company_id, name="Acme", webhook_secret="s"))
        assert store.get_company(company_id) is not None
        assert not seen_elsewhere()
    assert seen_elsewhere()


def test_an_error_inside_a_transaction_leaves_it_usable(store: Store) -> None:
    make_company(store, "Taken")
    with store.transaction():
        first = make_company(store, "First")
        conflict(lambda: make_company(store, "Taken"))
        second = make_company(store, "Second")
    assert store.get_company(first.company_id) == first
    assert store.get_company(second.company_id) == second


def test_calls_outside_a_transaction_commit_alone(store: Store) -> None:
    kept = make_company(store, "Kept")
    conflict(lambda: make_company(store, "Kept"))
    assert store.get_company(kept.company_id) == kept


def test_transactions_of_threads_are_independent(store: Store) -> None:
    def work(i: int) -> str:
        company_id = new_id()
        with contextlib.suppress(Boom), store.transaction():
            store.create_company(Company(company_id=company_id, name=f"c{i}", webhook_secret="s"))
            if i % 2:
                raise Boom
        return company_id

    created = in_threads(4, work)
    assert [store.get_company(company_id) is not None for company_id in created] == [True, False, True, False]


# Times --------------------------------------------------------------------------------------------


def test_times_come_back_as_the_same_instants_in_utc(store: Store) -> None:
    india = timezone(timedelta(hours=5, minutes=30))
    created = datetime(2023, 12, 31, 23, 59, 59, 999999, tzinfo=india)
    folder = make_folder(store, time_created=created, time_updated=created + timedelta(microseconds=1))
    stored = store.get_folder(folder.folder_id)
    assert stored is not None and stored.time_created is not None and stored.time_updated is not None
    assert stored.time_created == created
    assert stored.time_updated - stored.time_created == timedelta(microseconds=1)
    assert stored.time_created.utcoffset() == timedelta(0)
    old = make_folder(store, time_created=datetime(1999, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert old.time_created == datetime(1999, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_naive_times_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        make_folder(store, time_created=datetime(2024, 1, 1))


def test_lock_folder_makes_resolvers_take_turns(store: Store) -> None:
    folder = make_folder(store)
    assert store.lock_folder("no-such-folder") is False
    events: list[str] = []
    first_has_lock = threading.Event()

    def first() -> None:
        with store.transaction():
            assert store.lock_folder(folder.folder_id)
            events.append("first locked")
            first_has_lock.set()
            time.sleep(0.4)
            events.append("first done")

    def second() -> None:
        first_has_lock.wait()
        with store.transaction():
            store.lock_folder(folder.folder_id)
            events.append("second locked")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert events == ["first locked", "first done", "second locked"]


# Hosts --------------------------------------------------------------------------------------------


def test_report_host_inserts_then_replaces(store: Store) -> None:
    assert store.list_hosts() == []
    first = store.report_host(
        "node-b", bundle_id="models-1", bundle_version=1, models={"det": "1.0.0"}, now=datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert first.hostname == "node-b" and first.bundle_id == "models-1" and first.bundle_version == 1
    assert first.models == {"det": "1.0.0"}
    assert first.time_updated == datetime(2026, 1, 1, tzinfo=UTC)
    store.report_host("node-a", bundle_id=None, bundle_version=None, models={})
    again = store.report_host("node-b", bundle_id="models-2", bundle_version=2, models={"det": "1.1.0", "emb": "2.0"})
    assert again.time_updated > first.time_updated
    hosts = store.list_hosts()
    assert [h.hostname for h in hosts] == ["node-a", "node-b"]
    assert hosts[0].bundle_id is None and hosts[0].bundle_version is None and hosts[0].models == {}
    assert hosts[1] == again
    assert hosts[1].bundle_version == 2 and hosts[1].models == {"det": "1.1.0", "emb": "2.0"}


def test_report_host_needs_a_hostname(store: Store) -> None:
    with pytest.raises(ValueError):
        store.report_host("", bundle_id=None, bundle_version=None, models={})


def _beat(store: Store, hostname: str, part: str, pid: int, seen: datetime, role: str | None = None) -> HostPart:
    return store.beat_host_part(
        hostname,
        part,
        pid,
        role=role,
        time_started=datetime(2026, 1, 1, tzinfo=UTC),
        now=seen,
        forget_before=seen - timedelta(seconds=30),
    )


def test_a_host_part_is_registered_then_seen_again(store: Store) -> None:
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert store.list_host_parts() == []
    first = _beat(store, "node-b", "worker:analysis", 41, t0)
    assert (first.hostname, first.part, first.pid, first.role) == ("node-b", "worker:analysis", 41, None)
    assert first.time_started == datetime(2026, 1, 1, tzinfo=UTC) and first.time_seen == t0
    _beat(store, "node-a", "scheduler", 7, t0, role="standby")
    again = _beat(store, "node-b", "worker:analysis", 41, t0 + timedelta(seconds=10))
    leader = _beat(store, "node-a", "scheduler", 7, t0 + timedelta(seconds=10), role="leader")
    assert again.time_seen == t0 + timedelta(seconds=10) and leader.role == "leader"
    assert store.list_host_parts() == [leader, again]  # one row per process, by host, part, pid


def test_a_heartbeat_forgets_the_stale_rows_of_its_own_host_and_part(store: Store) -> None:
    """A part restarted (another pid) replaces the earlier process's row once that one is stale;
    another host's rows and another part's stay, whatever their age."""
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    _beat(store, "node-a", "api", 100, t0)
    _beat(store, "node-a", "worker:default", 101, t0)
    _beat(store, "node-b", "api", 100, t0)
    _beat(store, "node-a", "api", 200, t0 + timedelta(seconds=5))  # not stale yet: both stay
    assert [(p.hostname, p.part, p.pid) for p in store.list_host_parts()] == [
        ("node-a", "api", 100),
        ("node-a", "api", 200),
        ("node-a", "worker:default", 101),
        ("node-b", "api", 100),
    ]
    _beat(store, "node-a", "api", 200, t0 + timedelta(seconds=31))
    assert [(p.hostname, p.part, p.pid) for p in store.list_host_parts()] == [
        ("node-a", "api", 200),
        ("node-a", "worker:default", 101),
        ("node-b", "api", 100),
    ]


def test_a_new_leader_records_the_others_as_standby(store: Store) -> None:
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    _beat(store, "node-a", "scheduler", 1, t0, role="leader")
    _beat(store, "node-b", "scheduler", 2, t0, role="leader")
    _beat(store, "node-c", "scheduler", 3, t0, role="standby")
    _beat(store, "node-c", "api", 4, t0)
    assert store.step_down_others("node-b", "scheduler", 2, role="leader", instead="standby") == 1
    roles = {(p.hostname, p.part): p.role for p in store.list_host_parts()}
    assert roles == {
        ("node-a", "scheduler"): "standby",
        ("node-b", "scheduler"): "leader",
        ("node-c", "scheduler"): "standby",
        ("node-c", "api"): None,
    }


def test_host_parts_not_seen_since_a_time_are_deleted(store: Store) -> None:
    t0 = datetime(2026, 1, 1, 12, tzinfo=UTC)
    _beat(store, "retired", "api", 1, t0 - timedelta(days=31))
    _beat(store, "node-a", "api", 1, t0)
    assert store.delete_host_parts_before(t0 - timedelta(days=30)) == 1
    assert [p.hostname for p in store.list_host_parts()] == ["node-a"]


def test_a_host_part_needs_a_hostname_and_a_part(store: Store) -> None:
    with pytest.raises(ValueError):
        _beat(store, "", "api", 1, datetime(2026, 1, 1, tzinfo=UTC))
    with pytest.raises(ValueError):
        _beat(store, "node-a", "", 1, datetime(2026, 1, 1, tzinfo=UTC))
