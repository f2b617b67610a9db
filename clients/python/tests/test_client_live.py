"""The client against a real appliance over real HTTP: sync and async, a folder run to its result,
refusals as `ApiError`, upload progress, requests sent again on 429 and 503 (behind a transport that
answers the first ones with the fault: the only fake here), and every document the client reads
matches what the API sends."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD, LiveAppliance

from appliance_client import (
    AnalysisState,
    ApiError,
    AsyncClient,
    CaptureSession,
    Client,
    Folder,
    FolderStatus,
    Resolution,
    RetryPolicy,
    Tokens,
    Upload,
    Version,
)

FAST = RetryPolicy(attempts=3, backoff=0.01, max_delay=2.0)
QUEUE_FULL = b'{"error_code": 154, "error_name": "QUEUE_FULL", "error_message": "full", "details": null}'


def test_the_sync_client_runs_a_folder_to_its_result(live: LiveAppliance, photo: Path) -> None:
    progress: list[tuple[int, int]] = []
    with Client(live.base_url) as client:
        tokens = client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        assert tokens.user.email == ADMIN_EMAIL
        assert "BRIGHTNESS" in client.version().analysis_types
        folder = client.create_folder(
            [Upload(photo, ["photo_selfie"])],
            folder_meta_data={"transaction_id": "T-1"},
            on_progress=lambda sent, total: progress.append((sent, total)),
        )
        assert folder.resolution_status is FolderStatus.INITIAL and folder.meta_data == {"transaction_id": "T-1"}
        assert folder.media[0].size_bytes == photo.stat().st_size and folder.media[0].tags == ["photo_selfie"]
        started = client.add_analyses(folder.folder_id, ["brightness"])
        assert [a.type for a in started] == ["BRIGHTNESS"]
        done = client.wait_for_folder(folder.folder_id, timeout=60, interval=0.2)
    assert done.resolution_status is FolderStatus.FINISHED and done.system_resolution is Resolution.SUCCESS
    assert done.analyses is not None
    [analysis] = done.analyses
    assert analysis.state is AnalysisState.FINISHED and analysis.resolution_status is Resolution.SUCCESS
    [result] = analysis.results_media
    assert result.source_media_id == folder.media[0].media_id
    assert result.results_data is not None and 40 <= result.results_data["mean_luma"] <= 220
    total = progress[-1][1]
    assert progress[-1] == (total, total) and total > photo.stat().st_size
    assert [sent for sent, _ in progress] == sorted({sent for sent, _ in progress})  # only forward


def test_the_async_client_runs_a_single_request(live: LiveAppliance, photo: Path) -> None:
    async def scenario() -> tuple[Folder, CaptureSession]:
        async with AsyncClient(live.base_url) as client:
            await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            folder = await client.create_folder([Upload(photo.read_bytes(), ["photo_selfie"])], analyses=["BRIGHTNESS"])
            if not folder.is_final:  # the single request's wait ran out on a slow machine
                folder = await client.wait_for_folder(folder.folder_id, timeout=60, interval=0.2)
            return folder, await client.open_capture_session(folder.folder_id)

    folder, session = asyncio.run(scenario())
    assert folder.resolution_status is FolderStatus.FINISHED and folder.analyses is not None
    assert folder.analyses[0].results_media[0].results_data is not None
    assert folder.media[0].original_name == "media0"  # bytes are sent under their media key
    assert session.folder_id == folder.folder_id and session.capture_url.startswith("/capture/")
    assert "QUALITY" in session.analyses and session.steps


def test_a_refused_request_raises_the_api_error(live: LiveAppliance, photo: Path) -> None:
    with Client(live.base_url) as client:
        with pytest.raises(ApiError) as refused_login:
            client.login(ADMIN_EMAIL, "not-the-password")
        client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
        with pytest.raises(ApiError) as unknown:
            client.create_folder([Upload(photo, ["photo_selfie"])], analyses=["NO_SUCH_TYPE"])
    assert refused_login.value.status_code == 401 and refused_login.value.code == 7
    error = unknown.value
    assert (error.status_code, error.code, error.name) == (400, 108, "ANALYSIS_TYPE_UNKNOWN")
    assert isinstance(error.body.details, dict) and "BRIGHTNESS" in error.body.details["installed"]
    assert "NO_SUCH_TYPE" in str(error)


def test_the_documents_the_client_reads_are_those_the_api_sends(live: LiveAppliance, photo: Path) -> None:
    """Field for field, nested documents too: a field the API adds or drops fails here."""
    token = live.login()
    with live.client(token) as http, Client(live.base_url, token=token) as client:
        folder_id = client.create_folder([Upload(photo, ["photo_selfie"])], analyses=["BRIGHTNESS"]).folder_id
        client.wait_for_folder(folder_id, timeout=60, interval=0.2)
        credentials = {"credentials": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
        answers: list[tuple[type[msgspec.Struct], httpx.Response]] = [
            (Tokens, http.post("/api/authorize/auth", json=credentials)),
            (Version, http.get("/api/version")),
            (Folder, http.get(f"/api/folders/{folder_id}", params={"with_analyses": "true"})),
            (CaptureSession, http.post(f"/api/folders/{folder_id}/capture_sessions", json={})),
        ]
    for kind, answer in answers:
        assert answer.is_success, answer.text
        assert document_drift(kind, answer.json()) == []
        msgspec.json.decode(answer.content, type=kind)  # and it decodes


def _fault(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, content=QUEUE_FULL)


class Faults:
    """A transport handler: it answers with `queued` faults first, then sends each request on to
    the real appliance; `sizes` is the size of every body it was sent."""

    def __init__(self) -> None:
        self.queued: list[httpx.Response] = []
        self.sizes: list[int] = []
        self._real = httpx.Client(timeout=60)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.sizes.append(len(request.read()))
        if self.queued:
            return self.queued.pop(0)
        answer = self._real.send(request)
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.read())

    async def handle_async(self, request: httpx.Request) -> httpx.Response:
        return self(request)

    def close(self) -> None:
        self._real.close()


@pytest.fixture
def faults() -> Iterator[Faults]:
    handler = Faults()
    yield handler
    handler.close()


def test_an_upload_refused_for_a_full_queue_is_sent_again(live: LiveAppliance, photo: Path, faults: Faults) -> None:
    faults.queued += [_fault(503, {"Retry-After": "0"}), _fault(429)]
    progress: list[int] = []
    with Client(live.base_url, token=live.login(), retry=FAST, transport=httpx.MockTransport(faults)) as client:
        folder = client.create_folder(
            [Upload(photo, ["photo_selfie"])], on_progress=lambda sent, _: progress.append(sent)
        )
    assert folder.resolution_status is FolderStatus.INITIAL
    assert len(faults.sizes) == 3 and len(set(faults.sizes)) == 1  # the whole body, three times
    assert progress.count(faults.sizes[0]) == 3


def test_the_async_client_retries_then_gives_up_after_its_attempts(live: LiveAppliance, faults: Faults) -> None:
    async def scenario() -> None:
        transport = httpx.MockTransport(faults.handle_async)
        async with AsyncClient(live.base_url, retry=FAST, transport=transport) as client:
            faults.queued.append(_fault(429, {"Retry-After": "0"}))
            await client.login(ADMIN_EMAIL, ADMIN_PASSWORD)
            assert len(faults.sizes) == 2
            faults.queued += [_fault(503) for _ in range(FAST.attempts)]
            await client.version()

    with pytest.raises(ApiError) as refused:
        asyncio.run(scenario())
    assert (refused.value.status_code, refused.value.code) == (503, 154)
    assert len(faults.sizes) == 2 + FAST.attempts


class _Inner(msgspec.Struct):
    name: str


class _Outer(msgspec.Struct):
    folder_id: str
    missing: int
    items: list[_Inner] = []


def test_the_document_check_finds_drift() -> None:
    assert document_drift(_Outer, {"folder_id": "f", "extra": 1, "items": [{"name": "a", "new": 2}]}) == [
        "_Outer: the client lacks field extra",
        "_Outer: the API did not send missing",
        "_Outer.items[0]: the client lacks field new",
    ]


def document_drift(kind: Any, document: Any, where: str = "") -> list[str]:
    """How a JSON document the API sent and the client's type for it differ: fields the document has
    and the Struct lacks, fields the Struct requires and the document lacks; nested Structs too."""
    return _drift(msgspec.inspect.type_info(kind), document, where or getattr(kind, "__name__", "document"))


def _drift(info: msgspec.inspect.Type, value: Any, where: str) -> list[str]:
    if isinstance(info, msgspec.inspect.UnionType):
        found = [t for t in info.types if _is_container(t)]
        return _drift(found[0], value, where) if found and value is not None else []
    if isinstance(info, msgspec.inspect.ListType) and isinstance(value, list):
        return [d for i, item in enumerate(value) for d in _drift(info.item_type, item, f"{where}[{i}]")]
    if isinstance(info, msgspec.inspect.DictType) and isinstance(value, dict):
        return [d for key, item in value.items() for d in _drift(info.value_type, item, f"{where}[{key!r}]")]
    if not isinstance(info, msgspec.inspect.StructType) or not isinstance(value, dict):
        return []
    fields = {f.encode_name: f for f in info.fields}
    drift = [f"{where}: the client lacks field {name}" for name in sorted(set(value) - set(fields))]
    drift += [
        f"{where}: the API did not send {f.encode_name}"
        for f in info.fields
        if f.required and f.encode_name not in value
    ]
    for name in sorted(set(value) & set(fields)):
        drift += _drift(fields[name].type, value[name], f"{where}.{name}")
    return drift


def _is_container(info: msgspec.inspect.Type) -> bool:
    return isinstance(info, msgspec.inspect.StructType | msgspec.inspect.ListType | msgspec.inspect.DictType)
