"""Two-host mode (docs/two-hosts.md): host A runs the API and the scheduler, host B the workers
of every queue, each as a process group of its own with its own data directory and host name,
both on one PostgreSQL database and one Redis, with media and models in one shared directory
standing in for the NFS share.

Where the machine allows it (root, `ip netns`), each host also gets a network namespace of its
own: host A's API is reached over a private network, PostgreSQL and Redis through unix sockets
(which cross network namespaces, where 127.0.0.1 is each namespace's own), and the webhook
receiver listens in the root namespace on the private network. Elsewhere the hosts are plain
process groups on one loopback. The test prints which mode ran; under CI=true it must be the
namespace mode.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from appliance.queue.webhook_signing import verify
from tests.support.live import QUEUES, LiveAppliance, poll_folder
from tests.support.multihost import NAMESPACE_MODE, Network, assert_hosts_are_apart, hosts_of_one_installation
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.timeout(420)

HOST_NAMES = ("host-a", "host-b")
ANALYSIS_WORKER_PROCESSES = 2


@dataclass(frozen=True, slots=True)
class TwoHosts:
    network: Network
    api: LiveAppliance  # host A
    workers: LiveAppliance  # host B
    shared: Path


@contextmanager
def two_hosts(tmp_path: Path) -> Iterator[TwoHosts]:
    """`appliance init` on host A; host A's API and scheduler, host B's workers; all stopped on exit."""
    with hosts_of_one_installation(tmp_path, HOST_NAMES, api_hosts=["host-a"], prefix="twohosts") as site:
        api, workers = site.hosts["host-a"], site.hosts["host-b"]
        api.start_process("api", "serve")
        api.start_process("scheduler", "scheduler")
        for queue in QUEUES:
            count = ANALYSIS_WORKER_PROCESSES if queue == "analysis" else 1
            workers.start_process(f"worker-{queue}", "worker", "--queue", queue, "--workers", str(count))
        api.wait_ready()
        yield TwoHosts(site.network, api, workers, site.shared)


def test_api_on_host_a_workers_on_host_b(tmp_path: Path, samples: dict[str, Path]) -> None:
    with two_hosts(tmp_path) as hosts:
        print(f"two-host mode: {hosts.network.mode}")
        assert_hosts_are_apart(hosts.network, {"A": hosts.api, "B": hosts.workers})
        admin = hosts.api.client(hosts.api.login())
        with WebhookReceiver(hosts.network.gateway) as hooks:
            company = admin.post("/api/companies/", json={"name": "Branch 9", "webhook_url": hooks.url()})
            assert company.status_code == 201, company.text
            company = company.json()
            created = admin.post(
                "/api/users/",
                json={
                    "email": "teller@branch9.test",
                    "password": "teller-pass-1",
                    "user_type": "CLIENT",
                    "company_id": company["company_id"],
                },
            )
            assert created.status_code == 201, created.text
            client = hosts.api.client(hosts.api.login("teller@branch9.test", "teller-pass-1"))

            payload = {"media:tags": {"photo1": ["photo_selfie"], "video1": ["video_selfie", "video_selfie_blank"]}}
            with samples["jpeg"].open("rb") as photo, samples["mp4"].open("rb") as video:
                response = client.post(
                    "/api/folders/",
                    data={"payload": json.dumps(payload)},
                    files={"photo1": ("selfie.jpg", photo), "video1": ("selfie.mp4", video)},
                )
            assert response.status_code == 201, response.text
            folder_id = response.json()["folder_id"]
            started = client.post(
                f"/api/folders/{folder_id}/analyses/", json={"analyses": [{"type": "quality"}, {"type": "biometry"}]}
            )
            assert started.status_code == 201, started.text

            final = poll_folder(client, folder_id, timeout=240)
            logs = hosts.api.logs() + hosts.workers.logs()
            assert final["resolution_status"] == "FINISHED", logs
            by_type = {a["type"]: a for a in final["analyses"]}
            assert set(by_type) == {"QUALITY", "BIOMETRY"}
            assert all(a["state"] == "FINISHED" for a in by_type.values()), logs
            assert by_type["BIOMETRY"]["resolution_status"] == "SUCCESS", by_type["BIOMETRY"]["results_data"]
            assert 0.0 <= by_type["QUALITY"]["results_media"][0]["results_data"]["confidence_spoofing"] <= 1.0

            (hook,) = hooks.wait_for(1)
            assert verify(company["webhook_secret"], hook.body, hook.headers["X-Appliance-Signature"])
            assert hook.json()["folder_id"] == folder_id and hook.json()["resolution_status"] == "FINISHED"
            if hosts.network.mode == NAMESPACE_MODE:
                assert hook.client == hosts.network.hosts["host-b"][1], "the webhook comes from host B"

        # Files come back through host A, by the signed links of A's documents and of B's webhook.
        links = [m["original_url"] for m in final["media"]]
        links += [image["original_url"] for image in by_type["QUALITY"]["results_media"][0]["output_images"]]
        links += [m["original_url"] for m in hook.json()["media"]]
        for link in links:
            assert link.startswith(hosts.api.base_url), link
            served = httpx.get(link)
            assert served.status_code == 200 and served.content, link
        sizes = {m["media_id"]: m["size_bytes"] for m in final["media"]}
        for media in final["media"]:
            assert len(httpx.get(media["original_url"]).content) == sizes[media["media_id"]]

        # Both hosts wrote to the share and nowhere else: uploads by A, derived files by B.
        assert list((hosts.shared / "media" / "files").rglob("*.jpg")) and list((hosts.shared / "media").rglob("*.mp4"))
        assert any((hosts.shared / "media" / "derived").rglob("*")), "B's output images and face tracks"
        for host in (hosts.api, hosts.workers):
            assert not (host.data_dir / "media").exists() and not (host.data_dir / "models").exists()

        version = httpx.get(f"{hosts.api.base_url}/api/version").json()
        reports = {h["hostname"]: h for h in version["hosts"]}
        assert set(reports) == set(HOST_NAMES), version["hosts"]
        assert version["consistent"] is True
        active_bundle = (version["bundle"] or {}).get("bundle_id")  # the signed default bundle init installed
        assert reports["host-a"]["bundle_id"] == reports["host-b"]["bundle_id"] == active_bundle
        assert reports["host-a"]["models"] == reports["host-b"]["models"] != {}
        # every process registered its part of its host; host A's scheduler, the only one, leads
        assert {p["part"] for p in reports["host-a"]["parts"]} == {"api", "scheduler"}
        assert {p["part"] for p in reports["host-b"]["parts"]} == {f"worker:{queue}" for queue in QUEUES}
        assert not reports["host-a"]["stale"] and not reports["host-b"]["stale"]
        assert version["scheduler"] == {"leader": "host-a", "leaders": ["host-a"], "standbys": []}
