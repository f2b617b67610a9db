"""`/metrics` of a running appliance (API, and two analysis worker processes among its workers),
scraped over HTTP and read with prometheus_client's parser: what every process recorded adds up,
a killed worker's counts stay while its live gauges go, and `appliance metrics` serves the same.

No maintenance worker runs, so the scheduler's jobs wait in their queue (a depth to see) and no
expiry job retries the analysis whose worker the kill test ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from appliance.ops.settings import load_settings
from tests.support.live import REPO_ROOT, LiveAppliance, child_pids, free_port, poll_folder, running_appliance
from tests.support.media_samples import astronaut_rgb, jpeg_bytes
from tests.support.metrics import Scrape
from tests.support.webhooks import WebhookReceiver, allowed_targets_env

pytestmark = pytest.mark.timeout(300)

TOKEN = "metrics-token-of-the-tests"
WORKERS = {"analysis": 2, "preview": 1, "resolution": 1, "default": 1}
STAGES = ("prepare", "analyze", "save", "decode", "face_track", "detect", "landmarks", "embed")
#: BRIGHTNESS analyses that take a little while, so that both worker processes get some.
HELD = {"type": "brightness", "params": {"hold_seconds": 0.4}}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAppliance]:
    with running_appliance(
        tmp_path_factory.mktemp("appliance"),
        workers=WORKERS,
        ANALYSIS__MAX_ATTEMPTS="1",
        METRICS__TOKEN=TOKEN,
        **allowed_targets_env(),
    ) as live:
        yield live


@pytest.fixture(scope="module")
def admin(live: LiveAppliance) -> Iterator[httpx.Client]:
    with live.client(live.login(), timeout=60) as client:
        yield client


def scrape(url: str, token: str = TOKEN) -> Scrape:
    response = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape.parse(response.text)


def api_scrape(live: LiveAppliance) -> Scrape:
    return scrape(f"{live.base_url}/metrics")


def delta(after: Scrape, before: Scrape, name: str, *labels: str) -> dict[tuple[str, ...], float]:
    old = before.by(name, *labels)
    return {key: value - old.get(key, 0) for key, value in after.by(name, *labels).items() if value != old.get(key, 0)}


def metrics_dir(live: LiveAppliance) -> Path:
    return load_settings(live.env).metrics_path


def analyses_by_process(live: LiveAppliance) -> dict[int, float]:
    """Finished analyses each process counted, read from its own counter file."""
    counted = {}
    for path in metrics_dir(live).glob("counter_*.db"):
        (family,) = [m for m in MultiProcessCollector.merge([str(path)]) if m.name == "appliance_analyses"] or [None]
        counted[int(path.stem.split("_")[1])] = sum(s.value for s in family.samples) if family else 0.0
    return counted


def analysis_children(live: LiveAppliance) -> list[int]:
    """The processes of the analysis consumer: its two workers and Huey's scheduler."""
    return child_pids(live.processes["worker-analysis"].pid)


def photo_folder(client: httpx.Client) -> str:
    payload = {"media:tags": {"photo": ["photo_selfie"]}}
    files = {"photo": ("selfie.jpg", jpeg_bytes(astronaut_rgb()), "image/jpeg")}
    created = client.post("/api/folders", data={"payload": json.dumps(payload)}, files=files)
    assert created.status_code == 201, created.text
    return created.json()["folder_id"]


def analyse(client: httpx.Client, *requests: list[dict[str, Any]], **extra: Any) -> list[dict[str, Any]]:
    """A new photo folder for each list of analyses, all started before any is awaited, once every
    analysis is final. A folder's analyses run as one task, in one worker process: several folders
    spread over the workers. `extra` goes with the first folder's request."""
    folder_ids = [photo_folder(client) for _ in requests]
    for index, (folder_id, analyses) in enumerate(zip(folder_ids, requests, strict=True)):
        body = {"analyses": analyses, **(extra if index == 0 else {})}
        started = client.post(f"/api/folders/{folder_id}/analyses", json=body)
        assert started.status_code == 201, started.text
    folders = [poll_folder(client, folder_id, timeout=120) for folder_id in folder_ids]
    assert all(f["resolution_status"] in ("FINISHED", "FAILED") for f in folders), folders
    return folders


def test_analyses_add_up_over_every_worker_process(live: LiveAppliance, admin: httpx.Client) -> None:
    installed = {t for p in admin.get("/api/version").json()["plugins"] for t in p["analysis_types"]}
    before, counted_before = api_scrape(live), analyses_by_process(live)
    with WebhookReceiver() as receiver:
        analyses = [
            *[HELD] * 6,
            {"type": "brightness", "params": {"min_luma": 250}},  # DECLINED: the photo is darker
            {"type": "brightness", "params": {"raise_error": "no luck"}},  # FAILED: one attempt allowed
            {"type": "quality"},  # the face pipeline's stages
        ]
        folders = analyse(admin, analyses, [HELD] * 3, resolution_endpoint=receiver.url())
        receiver.wait_for(1)
    expected = Counter(
        (a["type"] if a["type"] in installed else "other", a["resolution_status"])
        for folder in folders
        for a in folder["analyses"]
    )
    assert expected[("BRIGHTNESS", "SUCCESS")] == 9 and expected[("BRIGHTNESS", "FAILED")] == 1

    deadline = time.monotonic() + 10  # the delivery is counted right after the receiver answered
    while (after := api_scrape(live)).value("appliance_webhook_deliveries_total", outcome="delivered") == before.value(
        "appliance_webhook_deliveries_total", outcome="delivered"
    ):
        assert time.monotonic() < deadline, "the webhook delivery was not counted"
        time.sleep(0.2)
    assert delta(after, before, "appliance_analyses_total", "type", "resolution") == expected
    assert delta(after, before, "appliance_analysis_duration_seconds_count", "type") == {
        ("BRIGHTNESS",): 11,
        ("QUALITY",): 1,
    }
    assert delta(after, before, "appliance_webhook_deliveries_total", "outcome") == {("delivered",): 1}
    stages = delta(after, before, "appliance_stage_duration_seconds_count", "stage")
    assert {stage for (stage,) in stages} >= set(STAGES), stages

    # The sum is right because each process counted its own share: several analysis workers did.
    counted = {pid: n - counted_before.get(pid, 0) for pid, n in analyses_by_process(live).items()}
    children = analysis_children(live)
    assert len([pid for pid in children if counted.get(pid, 0) > 0]) == 2, (children, counted)
    assert sum(counted.values()) == sum(expected.values())

    assert after.by("appliance_workers", "queue") == {(queue,): n for queue, n in WORKERS.items()}
    assert after.by("appliance_analyses_in_progress", "type") == {}


def test_queue_depths_and_model_versions_are_read_at_scrape_time(live: LiveAppliance, admin: httpx.Client) -> None:
    scraped = api_scrape(live)
    depths = {queue: value for (queue,), value in scraped.by("appliance_queue_depth", "queue").items()}
    assert {labels["queue"] for labels, _ in scraped.samples["appliance_queue_depth"]} == {
        "default",
        "maintenance",
        "analysis",
        "resolution",
        "preview",
    }
    assert depths.get("maintenance", 0) >= 1, "the scheduler's jobs wait for a maintenance worker"
    assert scraped.value("appliance_queue_storage_up") == 1
    version = admin.get("/api/version").json()
    bundle_id = version["bundle"]["bundle_id"] if version["bundle"] else ""
    models = {(m["name"], m["version"], bundle_id) for m in version["models"]}
    assert models and set(scraped.by("appliance_model_info", "name", "version", "bundle_id")) == models


def test_requests_are_counted_by_route_template_and_status(live: LiveAppliance, admin: httpx.Client) -> None:
    folder_id = photo_folder(admin)
    before = api_scrape(live)
    for _ in range(3):
        assert admin.get(f"/api/folders/{folder_id}").status_code == 200
    for _ in range(2):
        assert admin.get(f"/api/folders/{uuid.uuid4()}").status_code == 404
    assert admin.get("/api/nowhere/at/all").status_code == 404
    assert httpx.get(f"{live.base_url}/api/folders").status_code == 401
    after = api_scrape(live)
    counted = delta(after, before, "appliance_http_requests_total", "method", "route", "status")
    counted.pop(("GET", "/metrics", "200"))  # the scrape before this one
    assert counted == {
        ("GET", "/api/folders/{folder_id}", "200"): 3,
        ("GET", "/api/folders/{folder_id}", "404"): 2,
        ("GET", "unmatched", "404"): 1,
        ("GET", "/api/folders", "401"): 1,
    }
    timed = delta(after, before, "appliance_http_request_duration_seconds_count", "method", "route")
    assert timed[("GET", "/api/folders/{folder_id}")] == 5


def test_metrics_need_the_metrics_token_or_a_system_wide_user(live: LiveAppliance, admin: httpx.Client) -> None:
    url = f"{live.base_url}/metrics"
    assert admin.get("/metrics").status_code == 200  # an ADMIN's access token
    refused = httpx.get(url, headers={"Authorization": "Bearer not-the-token"})
    assert (refused.status_code, refused.json()["error_code"]) == (401, 7)
    anonymous = httpx.get(url)
    assert (anonymous.status_code, anonymous.json()["error_code"]) == (401, 6)


def test_a_killed_worker_keeps_its_counts_and_leaves_no_stale_gauges(live: LiveAppliance, admin: httpx.Client) -> None:
    analyse(admin, [HELD] * 2, [HELD] * 2)
    killed = analysis_children(live)
    counted = analyses_by_process(live)
    ran = [pid for pid in killed if counted.get(pid, 0) > 0]
    assert len(ran) == 2, (killed, counted)
    folder_id = photo_folder(admin)
    held = admin.post(
        f"/api/folders/{folder_id}/analyses",
        json={"analyses": [{"type": "brightness", "params": {"hold_seconds": 60}}]},
    )
    analysis_id = held.json()[0]["analysis_id"]
    deadline = time.monotonic() + 30
    while admin.get(f"/api/analyses/{analysis_id}").json()["time_started"] is None:
        assert time.monotonic() < deadline, live.logs()
        time.sleep(0.1)
    before = api_scrape(live)
    assert before.by("appliance_analyses_in_progress", "type") == {("BRIGHTNESS",): 1}

    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    seen: list[float] = []
    deadline = time.monotonic() + 60  # Huey's consumer replaces dead workers at its health check (every 10 s)
    while True:
        after = api_scrape(live)
        seen.append(after.value("appliance_workers", queue="analysis"))
        replaced = [pid for pid in analysis_children(live) if pid not in killed]
        if len(replaced) == len(killed) and seen[-1] == 2:
            break
        assert time.monotonic() < deadline, (seen, live.logs())
        time.sleep(0.5)
    assert max(seen) <= 2, f"killed workers still counted as running: {seen}"
    assert after.by("appliance_analyses_in_progress", "type") == {}
    assert after.by("appliance_analyses_total", "type", "resolution") == before.by(
        "appliance_analyses_total", "type", "resolution"
    )
    files = {path.name for path in metrics_dir(live).glob("*.db")}
    assert all(f"counter_{pid}.db" in files for pid in ran)
    assert not [pid for pid in killed if f"gauge_livesum_{pid}.db" in files]


def test_the_exporter_serves_the_same_metrics(live: LiveAppliance) -> None:
    port = free_port()
    exporter = live.start_process("exporter", "metrics", "--host", "127.0.0.1", "--port", str(port))
    url = f"http://127.0.0.1:{port}/metrics"
    deadline = time.monotonic() + 30
    while True:
        try:
            exported = scrape(url)
            break
        except httpx.TransportError:
            assert exporter.poll() is None and time.monotonic() < deadline, live.logs()
            time.sleep(0.2)
    served = api_scrape(live)
    for name, labels in (
        ("appliance_analyses_total", ("type", "resolution")),
        ("appliance_workers", ("queue",)),
        ("appliance_model_info", ("name", "version", "bundle_id")),
    ):
        assert exported.by(name, *labels) == served.by(name, *labels), name
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert httpx.get(f"http://127.0.0.1:{port}/elsewhere").status_code == 404


def test_the_exporter_refuses_an_open_address_without_a_token(live: LiveAppliance) -> None:
    env = {**live.env, "APPLIANCE_METRICS__TOKEN": ""}
    command = [sys.executable, "-m", "appliance.cli", "metrics", "--host", "0.0.0.0", "--port", str(free_port())]
    result = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "appliance: set metrics.token before serving metrics on 0.0.0.0: scrapers must send it"
    ]
