"""Capture sessions over real HTTP: opened by who may add media to the folder, reached by the token in
the capture page's address, single use, expiring, refusing what is not a recording of the session,
and flagging a camera that looks injected. (The page itself, in a browser: test_capture_page.py.)"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from tests.support.live import LiveAppliance, running_appliance
from tests.support.media_samples import astronaut_rgb, jpeg_bytes
from tests.support.roles import PASSWORD, expect_status

pytestmark = pytest.mark.timeout(300)

#: Short sessions and prompts, so that a recording (and an expiry) takes seconds.
SETTINGS = {
    "CAPTURE__SESSION_SECONDS": "6",
    "CAPTURE__LEAD_IN_SECONDS": "0.5",
    "CAPTURE__PROMPT_SECONDS": "1",
    "CAPTURE__PAUSE_SECONDS": "0.5",
    "CAPTURE__FEWEST_GESTURES": "2",
    "CAPTURE__MOST_GESTURES": "2",
}
#: Frame intervals a webcam gives through a browser: about 30 frames a second, a little uneven.
WEBCAM_INTERVALS = [33.3 + 3.0 * np.sin(i * 1.7) for i in range(90)]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAppliance]:
    workers = {"analysis": 1, "resolution": 1, "preview": 1}
    with running_appliance(tmp_path_factory.mktemp("capture"), workers=workers, scheduler=False, **SETTINGS) as live:
        yield live


@pytest.fixture(scope="module")
def admin(live: LiveAppliance) -> Iterator[httpx.Client]:
    with live.client(live.login(), timeout=120) as client:
        yield client


@pytest.fixture(scope="module")
def folder_id(admin: httpx.Client) -> str:
    created = admin.post(
        "/api/folders",
        data={"payload": json.dumps({"media:tags": {"photo": ["photo_selfie"]}})},
        files={"photo": ("selfie.jpg", jpeg_bytes(astronaut_rgb()), "image/jpeg")},
    )
    return expect_status(created, 201)["folder_id"]


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """4 s of the astronaut at 15 frames a second: longer than a session's prompts (3 s)."""
    path = tmp_path_factory.mktemp("clip") / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (512, 512))
    for _ in range(60):
        writer.write(cv2.cvtColor(astronaut_rgb(), cv2.COLOR_RGB2BGR))
    writer.release()
    return path.read_bytes()


def _open(client: httpx.Client, folder_id: str, **body: Any) -> dict[str, Any]:
    return expect_status(client.post(f"/api/folders/{folder_id}/capture_sessions", json=body), 201)


def _record(
    live: LiveAppliance, url: str, video: bytes, report: dict[str, Any], name: str = "capture.avi"
) -> httpx.Response:
    with live.client() as anonymous:
        return anonymous.post(
            f"{url}/recording", data={"payload": json.dumps({"report": report})}, files={"recording": (name, video)}
        )


def _verdict(live: LiveAppliance, url: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    with live.client() as anonymous:
        while True:
            verdict = expect_status(anonymous.get(f"{url}/verdict"), 200)
            if verdict["state"] == "finished" or time.monotonic() > deadline:
                return verdict
            time.sleep(0.2)


def test_a_session_draws_its_challenge_and_a_capture_address(
    live: LiveAppliance, admin: httpx.Client, folder_id: str
) -> None:
    session = _open(admin, folder_id)
    assert session["state"] == "open" and session["analyses"] == ["QUALITY"]
    steps = session["steps"]
    assert len(steps) == 2 and len({s["gesture"] for s in steps}) == 2
    assert [(s["start_s"], s["end_s"]) for s in steps] == [(0.5, 1.5), (2.0, 3.0)]
    assert all(s["prompt"] for s in steps) and session["recording_s"] == 3.5
    token = session["capture_url"].removeprefix("/capture/")
    assert len(token) >= 40
    with live.client() as anonymous:  # the page needs no login: the address is the capability
        page = anonymous.get(session["capture_url"])
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["referrer-policy"] == "no-referrer"
        assert expect_status(anonymous.get(f"{session['capture_url']}/session"), 200)["steps"] == steps
        # everything the page runs comes from the appliance, gzipped: well under 150 kB
        compressed = 0
        for asset in ("capture.js", "page.js", "capture.css"):
            served = anonymous.get(f"/capture/static/{asset}", headers={"Accept-Encoding": "gzip"})
            assert served.status_code == 200
            compressed += int(served.headers.get("content-length") or len(served.content))
            assert served.headers.get("content-encoding") == "gzip" or len(served.content) < 500
        assert compressed < 150_000
        api = anonymous.get("/docs/openapi.json", headers={"Accept-Encoding": "gzip"})
        assert len(api.content) > 500 and "content-encoding" not in api.headers  # only the capture routes gzip
    # random: another session asks for another challenge sooner or later
    drawn = {tuple(s["gesture"] for s in _open(admin, folder_id)["steps"]) for _ in range(12)}
    assert len(drawn) > 1


def test_the_recording_runs_quality_with_the_challenge_and_the_session_is_single_use(
    live: LiveAppliance, admin: httpx.Client, folder_id: str, clip: bytes
) -> None:
    session = _open(admin, folder_id)
    url = session["capture_url"]
    report = {"camera_label": "Integrated Webcam (0bda:58f4)", "frame_intervals_ms": WEBCAM_INTERVALS}
    recorded = expect_status(_record(live, url, clip, report), 202)
    assert recorded["state"] == "used" and recorded["flags"] == [] and len(recorded["analyses"]) == 1
    verdict = _verdict(live, url)
    # a still photo makes no gesture: the first step fails, and the page is told which
    assert (verdict["resolution"], verdict["failed_step"]) == ("DECLINED", 0)
    assert verdict["failed_gesture"] == session["steps"][0]["gesture"]
    folder = expect_status(admin.get(f"/api/folders/{folder_id}", params={"with_analyses": "true"}), 200)
    (quality,) = [a for a in folder["analyses"] if a["analysis_id"] == recorded["analyses"][0]]
    challenge = quality["params"]["challenge"]
    assert [s["tag"] for s in challenge["steps"]] == [s["gesture"] for s in session["steps"]]
    assert [m["media_id"] for m in quality["source_media"]] == [recorded["media_id"]]
    # used: a second upload, even the same one, is refused and writes nothing
    media_before = len(folder["media"])
    again = _record(live, url, clip, report)
    assert (again.status_code, again.json()["error_code"]) == (409, 162)
    folder = expect_status(admin.get(f"/api/folders/{folder_id}"), 200)
    assert len(folder["media"]) == media_before


def test_an_unknown_or_expired_session_is_refused_with_its_code(
    live: LiveAppliance, admin: httpx.Client, folder_id: str, clip: bytes
) -> None:
    with live.client() as anonymous:
        unknown = anonymous.get("/capture/not-a-token/session")
        assert (unknown.status_code, unknown.json()["error_code"]) == (404, 160)
    session = _open(admin, folder_id)
    time.sleep(6.5)  # capture.session_seconds here
    with live.client() as anonymous:
        assert expect_status(anonymous.get(f"{session['capture_url']}/session"), 200)["state"] == "expired"
    late = _record(live, session["capture_url"], clip, {})
    assert (late.status_code, late.json()["error_code"]) == (410, 161)


def test_what_is_not_a_recording_of_the_session_is_refused_and_leaves_nothing(
    live: LiveAppliance, admin: httpx.Client, folder_id: str, tmp_path: Path
) -> None:
    session = _open(admin, folder_id)
    url = session["capture_url"]
    before = len(expect_status(admin.get(f"/api/folders/{folder_id}"), 200)["media"])
    photo = _record(live, url, jpeg_bytes(astronaut_rgb()), {}, name="photo.jpg")
    assert (photo.status_code, photo.json()["error_code"]) == (422, 163)
    short = tmp_path / "short.avi"
    writer = cv2.VideoWriter(str(short), cv2.VideoWriter_fourcc(*"MJPG"), 15.0, (256, 256))
    for _ in range(10):
        writer.write(np.zeros((256, 256, 3), np.uint8))
    writer.release()
    brief = _record(live, url, short.read_bytes(), {})
    assert (brief.status_code, brief.json()["error_code"]) == (422, 163) and "lasts 0.7 s" in brief.json()[
        "error_message"
    ]
    with live.client() as anonymous:
        bad_report = anonymous.post(
            f"{url}/recording", data={"payload": json.dumps({"report": [1, 2]})}, files={"recording": ("c.avi", b"x")}
        )
    assert (bad_report.status_code, bad_report.json()["error_code"]) == (422, 163)
    assert len(expect_status(admin.get(f"/api/folders/{folder_id}"), 200)["media"]) == before
    with live.client() as anonymous:  # still open: nothing used it up
        assert expect_status(anonymous.get(f"{url}/session"), 200)["state"] == "open"


@pytest.mark.parametrize(
    ("report", "flags"),
    [
        ({"camera_label": "OBS Virtual Camera", "frame_intervals_ms": WEBCAM_INTERVALS}, ["virtual_camera"]),
        (
            {"camera_label": "fake_device_0", "frame_intervals_ms": [33.333] * 90},
            ["fake_device", "frame_timing_too_regular"],
        ),
        (
            {"camera_label": "HD Webcam", "frame_intervals_ms": [33.0] * 8 * 10 + [1500.0] * 10},
            ["frame_timing_too_irregular"],
        ),
        ({"camera_label": "HD Webcam"}, ["no_frame_timing"]),
    ],
)
def test_a_camera_that_looks_injected_sends_the_recording_to_an_operator(
    live: LiveAppliance, admin: httpx.Client, folder_id: str, clip: bytes, report: dict[str, Any], flags: list[str]
) -> None:
    session = _open(admin, folder_id)
    recorded = expect_status(_record(live, session["capture_url"], clip, report), 202)
    assert recorded["flags"] == flags
    verdict = _verdict(live, session["capture_url"])
    assert verdict["flags"] == flags
    assert "capture_flagged" in verdict["operator_reasons"] or verdict["resolution"] == "DECLINED"


def test_who_may_not_add_media_to_the_folder_may_not_open_a_session(live: LiveAppliance, admin: httpx.Client) -> None:
    company = expect_status(admin.post("/api/companies", json={"name": "Counter"}), 201)["company_id"]
    users = {}
    for role in ("CLIENT", "CLIENT_OPERATOR"):
        email = f"{role.lower()}@capture.test"
        body = {"email": email, "password": PASSWORD, "user_type": role, "company_id": company}
        expect_status(admin.post("/api/users", json=body), 201)
        users[role] = live.client(live.login(email, PASSWORD))
    try:
        created = users["CLIENT"].post(
            "/api/folders",
            data={"payload": json.dumps({"media:tags": {"photo": ["photo_selfie"]}})},
            files={"photo": ("selfie.jpg", jpeg_bytes(astronaut_rgb()), "image/jpeg")},
        )
        folder_id = expect_status(created, 201)["folder_id"]
        assert _open(users["CLIENT"], folder_id)["state"] == "open"
        refused = users["CLIENT_OPERATOR"].post(f"/api/folders/{folder_id}/capture_sessions", json={})
        assert refused.status_code == 403 and refused.json()["error_code"] == 9  # reads the folder, may not add to it
    finally:
        for client in users.values():
            client.close()
    missing = admin.post("/api/folders/00000000-0000-0000-0000-000000000000/capture_sessions", json={})
    assert missing.status_code == 404
