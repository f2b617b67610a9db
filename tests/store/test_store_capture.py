"""Capture sessions in the store (SQLite and PostgreSQL): found by their token's hash, used once,
never after they expire, and gone with their folder."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from appliance.domain.capture import CaptureSession, CaptureState
from appliance.store import Store
from tests.store.test_store_contract import T0, make_folder, make_media, new_id


def _session(store: Store, folder_id: str, token: str = "token", minutes: float = 2) -> CaptureSession:
    return store.create_capture_session(
        CaptureSession(
            session_id=new_id(),
            token_hash=hashlib.sha256(token.encode()).hexdigest(),
            folder_id=folder_id,
            company_id=None,
            user_id=new_id(),
            steps=["video_selfie_smile", "video_selfie_left"],
            schedule={"lead_in_s": 1.5, "prompt_s": 2.0, "pause_s": 0.8, "tail_s": 0.7},
            analyses=["QUALITY"],
            expires_at=T0 + timedelta(minutes=minutes),
            time_created=T0,
        )
    )


def test_a_session_is_found_by_its_token_hash_and_used_once(store: Store) -> None:
    folder = make_folder(store)
    created = _session(store, folder.folder_id, "secret-token")
    found = store.get_capture_session(hashlib.sha256(b"secret-token").hexdigest())
    assert found is not None and found.session_id == created.session_id
    assert found.steps == ["video_selfie_smile", "video_selfie_left"] and found.expires_at == created.expires_at
    assert store.get_capture_session(hashlib.sha256(b"another").hexdigest()) is None
    media = make_media(store, folder.folder_id)
    report = {"camera_label": "HD Webcam", "flags": []}
    assert store.use_capture_session(created.session_id, T0 + timedelta(seconds=30), media.media_id, report)
    used = store.get_capture_session(created.token_hash)
    assert used is not None and used.state(T0) is CaptureState.USED
    assert (used.media_id, used.report) == (media.media_id, report)
    assert not store.use_capture_session(created.session_id, T0 + timedelta(seconds=31), media.media_id, {})


def test_an_expired_session_is_never_used(store: Store) -> None:
    folder = make_folder(store)
    session = _session(store, folder.folder_id, minutes=1)
    assert session.state(T0 + timedelta(minutes=1)) is CaptureState.EXPIRED
    assert not store.use_capture_session(session.session_id, T0 + timedelta(minutes=1), "m", {})


def test_of_two_racing_uploads_one_uses_the_session(store: Store) -> None:
    folder = make_folder(store)
    session = _session(store, folder.folder_id)
    with ThreadPoolExecutor(4) as pool:
        won = list(pool.map(lambda i: store.use_capture_session(session.session_id, T0, f"media-{i}", {}), range(8)))
    assert won.count(True) == 1


def test_a_session_goes_with_its_folder(store: Store) -> None:
    folder = make_folder(store)
    session = _session(store, folder.folder_id)
    store.delete_folder(folder.folder_id)
    assert store.get_capture_session(session.token_hash) is None
