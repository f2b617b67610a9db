"""The whole flow over real HTTP with real worker processes, on both deployments:
SQLite + Huey on SQLite (one host) and PostgreSQL + Huey on Redis (two hosts).

Log in, set up a company with a webhook and a client, upload a real photo and a real video,
start an analysis, poll to FINISHED, fetch the files through signed links, and receive the
webhook with a valid signature.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from appliance_client import AnalysisState, ApiError, FolderStatus, Resolution, Upload

from appliance.ops.settings import load_settings
from appliance.queue.webhook_signing import verify
from tests.support.console import ConsoleVisitor
from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD, QUEUES, LiveAppliance, folder_media_ids
from tests.support.schema import LATEST_SCHEMA
from tests.support.shared_data import shared_file
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.timeout(240)


def _wait_for_thumbnails(client: httpx.Client, folder_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        folder = client.get(f"/api/folders/{folder_id}").json()
        if all(m["thumb_url"] for m in folder["media"]) or time.monotonic() > deadline:
            return folder
        time.sleep(0.2)


def test_folder_to_webhook(live: LiveAppliance, samples: dict[str, Path]) -> None:
    # Real people where the shared data is present (CI); the astronaut and a clip made of it elsewhere.
    photo_path = shared_file("faces/barack_obama/obama.jpg") or samples["jpeg"]
    video_path = shared_file("bench/selfie720p_1mbps.mp4") or samples["mp4"]
    admin = live.client(live.login())
    with WebhookReceiver() as hooks:
        company = admin.post("/api/companies/", json={"name": "Branch 7", "webhook_url": hooks.url()})
        assert company.status_code == 201, company.text
        company = company.json()
        created = admin.post(
            "/api/users/",
            json={
                "email": "teller@branch7.test",
                "password": "teller-pass-1",
                "user_type": "CLIENT",
                "company_id": company["company_id"],
            },
        )
        assert created.status_code == 201, created.text
        # the teller's side through the typed Python client an integrator uses (clients/python)
        teller = live.api(live.login("teller@branch7.test", "teller-pass-1"))
        media = [
            Upload(photo_path, ["photo_selfie"], name="selfie.jpg"),
            Upload(video_path, ["video_selfie", "video_selfie_blank"], name="selfie.mp4"),
        ]
        folder = teller.create_folder(media, folder_meta_data={"transaction_id": "T-1001"})
        assert folder.resolution_status == FolderStatus.INITIAL
        kinds = {m.original_name: m.media_type for m in folder.media}
        assert kinds == {"selfie.jpg": "IMAGE_FOLDER", "selfie.mp4": "VIDEO_FOLDER"}

        started = teller.add_analyses(folder.folder_id, ["brightness"])
        assert [a.state for a in started] == [AnalysisState.PROCESSING]

        final = teller.wait_for_folder(folder.folder_id, timeout=90, interval=0.2)
        assert final.resolution_status == FolderStatus.FINISHED, live.logs()
        assert final.system_resolution == Resolution.SUCCESS
        (analysis,) = final.analyses or []
        assert analysis.type == "BRIGHTNESS" and analysis.resolution_status == Resolution.SUCCESS
        assert analysis.plugin == "tests.plugins.brightness_plugin" and analysis.plugin_version == "1.0"
        results = {r.source_media_id: r for r in analysis.results_media}
        assert set(results) == {m.media_id for m in folder.media}
        for result in results.values():
            assert 40 <= (result.results_data or {})["mean_luma"] <= 220
            image = httpx.get(result.output_images[0].original_url)  # a signed link: no token
            assert image.status_code == 200 and image.content[:2] == b"\xff\xd8"

        (hook,) = hooks.wait_for(1)
        assert verify(company["webhook_secret"], hook.body, hook.headers["X-Appliance-Signature"])
        assert not verify("another secret", hook.body, hook.headers["X-Appliance-Signature"])
        body = hook.json()
        assert body["folder_id"] == folder.folder_id and body["resolution_status"] == "FINISHED"
        assert body["analyses"][0]["results_media"] and body["meta_data"] == {"transaction_id": "T-1001"}

    client = live.client(live.login("teller@branch7.test", "teller-pass-1"))
    with_thumbs = _wait_for_thumbnails(client, folder.folder_id)
    for media in with_thumbs["media"]:
        original = httpx.get(media["original_url"])
        assert original.status_code == 200 and len(original.content) == media["size_bytes"]
        thumb = httpx.get(media["thumb_url"])
        assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    unsigned = httpx.get(with_thumbs["media"][0]["original_url"].split("?")[0])
    assert unsigned.status_code == 401 and unsigned.json()["error_code"] == 6
    logs = live.logs(tail=None)
    assert "T-1001" not in logs and "selfie.jpg" not in logs, "meta_data and file names stay out of the logs"


def test_single_request_answers_with_the_result(live: LiveAppliance, samples: dict[str, Path]) -> None:
    token = live.login()
    client, api = live.client(token), live.api(token)
    photo = [Upload(samples["jpeg"], ["photo_selfie"])]
    # a type no installed plugin provides: refused with the installed ones named, and nothing written
    folders_before = folder_media_ids(client)
    with pytest.raises(ApiError) as refused:
        api.create_folder(photo, analyses=["BRIGHTNESS", "no_such_type"])
    assert (refused.value.status_code, refused.value.code) == (400, 108), refused.value
    details = refused.value.body.details
    assert (
        isinstance(details, dict)
        and details["analysis_type"] == "NO_SUCH_TYPE"
        and "BRIGHTNESS" in details["installed"]
    )
    assert folder_media_ids(client) == folders_before
    folder = api.create_folder(photo, analyses=["BRIGHTNESS"])
    assert folder.resolution_status == FolderStatus.FINISHED, live.logs()
    assert [(a.type, a.state) for a in folder.analyses or []] == [("BRIGHTNESS", AnalysisState.FINISHED)]


def _runtime_state(path: Path, live: LiveAppliance) -> bool:
    """The processes' logs and their state under `run/` (metrics, rate-limit counts), not data."""
    return path.relative_to(live.data_dir).parts[0] in ("logs", "run")


def test_instant_mode_writes_nothing(live: LiveAppliance, samples: dict[str, Path]) -> None:
    client = live.client(live.login())
    before = sorted(
        p.relative_to(live.data_dir) for p in live.data_dir.rglob("*") if p.is_file() and not _runtime_state(p, live)
    )
    folders_before = client.get("/api/folders/").json()["total"]
    payload = {"media:tags": {"video1": ["video_selfie"]}, "analyses": [{"type": "brightness"}]}
    with samples["mp4"].open("rb") as video:
        response = client.post("/api/instant/folders/", data={"payload": json.dumps(payload)}, files={"video1": video})
    assert response.status_code == 200, response.text
    result = response.json()
    assert result["resolution_status"] == "FINISHED" and result["system_resolution"] == "SUCCESS"
    (analysis,) = result["analyses"]
    assert analysis["results_media"][0]["output_images"][0]["data_base64"]
    assert client.get("/api/folders/").json()["total"] == folders_before
    assert client.get(f"/api/folders/{result['folder_id']}").status_code == 404
    after = sorted(
        p.relative_to(live.data_dir) for p in live.data_dir.rglob("*") if p.is_file() and not _runtime_state(p, live)
    )
    assert [p for p in after if p not in before and not p.name.endswith(("-wal", "-shm", "-journal"))] == []


def test_version_and_the_console_list_this_host_with_its_parts_and_the_leading_scheduler(
    live: LiveAppliance,
) -> None:
    """Every process registers its part of the host (the API, each queue's workers, the scheduler,
    which leads: it is the only one); `/api/version` and the console's system page show them."""
    hostname = load_settings(live.env).hostname
    expected = {"api", "scheduler", *(f"worker:{queue}" for queue in QUEUES)}
    deadline = time.monotonic() + 60
    with live.client() as anonymous:
        while True:
            version = anonymous.get("/api/version").json()
            hosts = {h["hostname"]: h for h in version["hosts"]}
            parts = {p["part"]: p for p in hosts.get(hostname, {}).get("parts", [])}
            if set(parts) == expected or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    assert set(parts) == expected, version["hosts"]
    host = hosts[hostname]
    assert host["stale"] is False and host["time_seen"].endswith("Z")
    assert not any(p["stale"] for p in parts.values())
    assert parts["scheduler"]["role"] == "leader" and parts["api"]["role"] is None
    assert {p["pid"] for p in parts.values()} == {live.processes[name].pid for name in live.processes}
    assert version["scheduler"] == {"leader": hostname, "leaders": [hostname], "standbys": []}
    assert version["stale_after_seconds"] == 30

    visitor = ConsoleVisitor(live.base_url).log_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    try:
        page = visitor.get("/console/system")
        assert page.status_code == 200
        assert f"led by {hostname}" in page.text
        hosts_table = page.text.split('id="hosts"', 1)[1].split("</table>", 1)[0]
        assert all(f"<li>{part}" in hosts_table for part in expected) and "STALE" not in hosts_table
    finally:
        visitor.close()


def test_version_health_and_api_docs(live: LiveAppliance) -> None:
    with live.client() as anonymous:
        assert anonymous.get("/health/live").json() == {"status": "pass"}
        ready = anonymous.get("/health/ready")
        assert ready.status_code == 200 and ready.headers["content-type"].startswith("application/health+json")
        assert {name: check["status"] for name, check in ready.json()["checks"].items()} == {
            "database": "pass",
            "queue": "pass",
            "storage": "pass",
        }
        version = anonymous.get("/api/version").json()
        assert version["schema"] == LATEST_SCHEMA
        assert {
            "name": "tests.plugins.brightness_plugin",
            "version": "1.0",
            "analysis_types": ["BRIGHTNESS"],
        } in version["plugins"]
        docs = anonymous.get("/docs")
        assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
        spec = anonymous.get("/docs/openapi.json").json()
        assert "/api/folders" in spec["paths"] and "/api/authorize/auth" in spec["paths"]
