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
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from appliance.queue.webhook_signing import verify
from tests.support.live import (
    ADMIN_EMAIL,
    QUEUES,
    LiveAppliance,
    appliance_env,
    free_port,
    poll_folder,
    run_command,
)
from tests.support.netns import NamespacesUnavailable, private_network
from tests.support.postgres import create_database, drop_database, require_server, unix_socket_url
from tests.support.redis_server import delete_queue_keys, redis_on_unix_socket, require_redis
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.timeout(420)

HOST_NAMES = ("host-a", "host-b")
ANALYSIS_WORKER_PROCESSES = 2
NAMESPACE_MODE = "network namespaces"


@dataclass(frozen=True, slots=True)
class Network:
    """How the hosts are separated and how they reach the shared services."""

    mode: str
    #: Where the test's own servers listen so that both hosts reach them.
    gateway: str
    #: host name -> (command prefix that runs a process on that host, the host's address)
    hosts: dict[str, tuple[tuple[str, ...], str]]
    database_url: str
    redis_url: str


@dataclass(frozen=True, slots=True)
class TwoHosts:
    network: Network
    api: LiveAppliance  # host A
    workers: LiveAppliance  # host B
    shared: Path


def _namespaces(stack: ExitStack, tmp_path: Path, database: str) -> Network:
    """Each host in a network namespace; NamespacesUnavailable (with nothing left behind) if the machine refuses."""
    with ExitStack() as attempt:
        network = attempt.enter_context(private_network(HOST_NAMES))
        database_url = unix_socket_url(database)
        if database_url is None:
            raise NamespacesUnavailable("PostgreSQL has no unix socket this test may connect through")
        try:
            redis_url = attempt.enter_context(redis_on_unix_socket(tmp_path / "redis"))
        except FileNotFoundError as exc:
            raise NamespacesUnavailable(str(exc)) from exc
        stack.enter_context(attempt.pop_all())
    hosts = {name: (host.launcher, host.address) for name, host in network.hosts.items()}
    return Network(NAMESPACE_MODE, network.gateway, hosts, database_url, redis_url)


def _process_groups(database: str, reason: str) -> Network:
    """Both hosts on this machine's loopback, against the test PostgreSQL and Redis over TCP."""
    redis_url = require_redis()
    hosts = {name: ((), "127.0.0.1") for name in HOST_NAMES}
    return Network(f"process groups only ({reason})", "127.0.0.1", hosts, database, redis_url)


def _network(stack: ExitStack, tmp_path: Path, database: str) -> Network:
    try:
        return _namespaces(stack, tmp_path, database)
    except NamespacesUnavailable as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI machines allow network namespaces, this one did not: {exc}")
        return _process_groups(database, str(exc))


@contextmanager
def two_hosts(tmp_path: Path) -> Iterator[TwoHosts]:
    """`appliance init` on host A; host A's API and scheduler, host B's workers; all stopped on exit."""
    with ExitStack() as stack:
        server = require_server()
        database = create_database(server)
        stack.callback(drop_database, database, server)
        network = _network(stack, tmp_path, database)
        prefix = f"twohosts{uuid.uuid4().hex[:8]}"
        stack.callback(delete_queue_keys, network.redis_url, prefix)
        shared = tmp_path / "nfs"
        (launcher_a, address_a), (launcher_b, _) = network.hosts["host-a"], network.hosts["host-b"]
        port = free_port()
        base_url = f"http://{address_a}:{port}"
        common = {
            "DATABASE_URL": network.database_url,
            "QUEUE__BACKEND": "redis",
            "QUEUE__REDIS_URL": network.redis_url,
            "QUEUE__NAME_PREFIX": prefix,
            "STORAGE_ROOT": str(shared / "media"),
            "MODELS_ROOT": str(shared / "models"),
            "API__PUBLIC_BASE_URL": base_url,
        }
        host_a, host_b = tmp_path / "host-a", tmp_path / "host-b"
        env_a = appliance_env(host_a, port, HOST_NAME="host-a", API__HOST=address_a, **common)
        env_b = appliance_env(host_b, port, HOST_NAME="host-b", **common)
        init = run_command(env_a, "init", "--admin-email", ADMIN_EMAIL, launcher=launcher_a)
        assert init.returncode == 0, init.stderr
        # The operator copies host A's config file (its secrets sign media URLs and webhooks) to host B.
        (host_b / "logs").mkdir(parents=True)
        shutil.copy(host_a / "appliance.toml", host_b / "appliance.toml")

        api = LiveAppliance(
            base_url, env_a, host_a, log_dir=host_a / "logs", launcher=launcher_a, own_process_group=True
        )
        api.log_dir.mkdir(exist_ok=True)
        stack.callback(api.stop)
        workers = LiveAppliance(
            base_url, env_b, host_b, log_dir=host_b / "logs", launcher=launcher_b, own_process_group=True
        )
        stack.callback(workers.stop)
        api.start_process("api", "serve")
        api.start_process("scheduler", "scheduler")
        for queue in QUEUES:
            count = ANALYSIS_WORKER_PROCESSES if queue == "analysis" else 1
            workers.start_process(f"worker-{queue}", "worker", "--queue", queue, "--workers", str(count))
        api.wait_ready()
        yield TwoHosts(network, api, workers, shared)


def _network_namespace(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/ns/net")


def _assert_hosts_are_apart(hosts: TwoHosts) -> None:
    """Each host is one process group (and, in the namespace mode, one network namespace)."""
    groups = {
        name: {os.getpgid(p.pid) for p in host.processes.values()}
        for name, host in (("A", hosts.api), ("B", hosts.workers))
    }
    assert all(len(g) == 1 for g in groups.values()) and groups["A"] != groups["B"], groups
    assert os.getpgid(0) not in groups["A"] | groups["B"]
    if hosts.network.mode == NAMESPACE_MODE:
        namespaces = {
            name: {_network_namespace(p.pid) for p in host.processes.values()}
            for name, host in (("A", hosts.api), ("B", hosts.workers))
        }
        assert all(len(n) == 1 for n in namespaces.values()) and namespaces["A"] != namespaces["B"], namespaces
        assert _network_namespace(os.getpid()) not in namespaces["A"] | namespaces["B"]


def test_api_on_host_a_workers_on_host_b(tmp_path: Path, samples: dict[str, Path]) -> None:
    with two_hosts(tmp_path) as hosts:
        print(f"two-host mode: {hosts.network.mode}")
        _assert_hosts_are_apart(hosts)
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
