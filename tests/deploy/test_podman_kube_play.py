"""The rendered Pods run: deploy/kubernetes/overlays/small, rendered by `kubectl kustomize` with a
kustomization of the test's own on top, played by `podman kube play` against this machine's
PostgreSQL and Redis, resolve a folder end to end.

The test's kustomization changes only what a site changes in its overlay: the image (the test
image podman/build-image made, shared with tests/podman), the secrets (a fresh database, this
machine's Redis, random keys), the API's port and the queues' prefix, a name prefix so that nothing
meets another run's; and, since podman has no cluster network, it puts the pods on the host's
network (`hostNetwork`) so they reach PostgreSQL and Redis on 127.0.0.1; there podman refuses a
container port ("PortMappings can only be used with Bridge or slirp4netns networking"), so the
API's goes and its probes name the port's number.

What podman kube play (4.3, Debian 12's) does not run, and how the test stands in for it:
- the init Job: its pod template is played as a Pod, and the test waits for its container to exit 0
  before the Deployments are played (what `kubectl wait --for=condition=complete` does);
- Secrets: podman 4.3 stores a Secret of the played YAML in a form its own secretKeyRef then cannot
  read, so the test makes each rendered Secret a podman secret in the form podman reads (a JSON
  object of base64 values) and plays the rest;
- Services, the HPA, the PDB, NetworkPolicies, the ScaledObjects and the ServiceAccount are cluster
  objects with nothing to run: tests/deploy/test_manifests.py validates them and checks their content.
A Deployment's replicas are played as one pod each.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from tests.deploy.manifests import DEPLOY_DIR, Rendered, render, require_kubectl
from tests.podman.podman_tools import appliance_image, podman_env, require_tools, run
from tests.support.live import ADMIN_PASSWORD, free_port, poll_folder
from tests.support.media_samples import astronaut_rgb, jpeg_bytes
from tests.support.postgres import create_database, drop_database, require_server
from tests.support.redis_server import delete_queue_keys, require_redis

pytestmark = pytest.mark.timeout(900)

#: What the init Job's `--admin-email` makes (deploy/kubernetes/base/init-job.yaml).
ADMIN_EMAIL = "admin@appliance.local"
#: Kinds podman kube play runs (Secrets made as podman secrets beforehand, see above).
PLAYED_KINDS = ("ConfigMap", "PersistentVolumeClaim", "Deployment")


def _test_kustomization(directory: Path, prefix: str, image: str, values: dict[str, str]) -> Path:
    """A kustomization over overlays/small with the test's image, secrets, port and prefix."""
    repository, _, tag = image.rpartition(":")
    overlay = DEPLOY_DIR / "overlays" / "small"
    host_network = [{"op": "add", "path": "/spec/template/spec/hostNetwork", "value": True}]
    # podman refuses a container port on the host's network, where Kubernetes takes it
    container = "/spec/template/spec/containers/0"
    no_port_mapping = [{"op": "remove", "path": f"{container}/ports"}] + [
        {"op": "replace", "path": f"{container}/{probe}/httpGet/port", "value": int(values["port"])}
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        # kustomize takes a relative path only
        "resources": [os.path.relpath(overlay, directory)],
        "namePrefix": f"{prefix}-",
        "images": [
            {"name": "registry.example.invalid/liveness-appliance", "newName": repository, "newTag": tag},
        ],
        "configMapGenerator": [
            {
                "name": "appliance-settings",
                "behavior": "merge",
                "literals": [
                    f"APPLIANCE_API__PORT={values['port']}",
                    f"APPLIANCE_QUEUE__NAME_PREFIX={prefix}",
                    # the API is reached over plain HTTP here, with no Ingress doing TLS
                    "APPLIANCE_CONSOLE__SECURE_COOKIES=auto",
                ],
            }
        ],
        "secretGenerator": [
            {
                "name": "appliance-secrets",
                "behavior": "replace",
                "literals": [
                    f"APPLIANCE_SECRET_KEY={secrets.token_hex(32)}",
                    f"APPLIANCE_WEBHOOKS__SYSTEM_SECRET={secrets.token_hex(32)}",
                    f"APPLIANCE_METRICS__TOKEN={secrets.token_hex(32)}",
                    f"APPLIANCE_QUEUE__REDIS_URL={values['redis_url']}",
                    f"REDIS_ADDRESS={values['redis_address']}",
                    f"REDIS_PASSWORD={values['redis_password']}",
                ],
            },
            {"name": "appliance-database", "behavior": "replace", "literals": [f"uri={values['database_url']}"]},
            {"name": "appliance-admin", "behavior": "replace", "literals": [f"password={ADMIN_PASSWORD}"]},
        ],
        "patches": [
            {"target": {"kind": "Deployment"}, "patch": yaml.safe_dump(host_network)},
            {"target": {"kind": "Deployment", "name": "appliance-api"}, "patch": yaml.safe_dump(no_port_mapping)},
            {"target": {"kind": "Job"}, "patch": yaml.safe_dump(host_network)},
        ],
    }
    directory.mkdir()
    (directory / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False))
    return directory


class Play:
    """What one test run made in podman (pods, the volume, secrets), removed by `close`."""

    def __init__(self, workdir: Path) -> None:
        self.env = podman_env()
        self.workdir = workdir
        self.files: list[Path] = []
        self.secrets: list[str] = []
        self.volumes: list[str] = []

    def podman(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return run(["podman", *args], self.env, timeout=timeout)

    def check(self, *args: str, timeout: float = 300) -> str:
        result = self.podman(*args, timeout=timeout)
        assert result.returncode == 0, f"podman {' '.join(args)}: {result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        return result.stdout

    def secret(self, obj: dict[str, Any]) -> None:
        """A rendered Secret as the podman secret podman 4.3's kube play reads: {key: base64}."""
        name = obj["metadata"]["name"]
        path = self.workdir / f"{name}.json"
        path.write_text(json.dumps(obj.get("data", {})))
        self.check("secret", "create", name, str(path))
        self.secrets.append(name)
        path.unlink()

    def play(self, name: str, objects: list[dict[str, Any]]) -> None:
        path = self.workdir / f"{name}.yaml"
        path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
        self.files.append(path)
        self.volumes += [o["metadata"]["name"] for o in objects if o["kind"] == "PersistentVolumeClaim"]
        self.check("kube", "play", str(path), timeout=600)

    def logs(self, container: str, lines: int = 40) -> str:
        result = self.podman("logs", "--tail", str(lines), container)
        return f"--- {container}\n{result.stdout}{result.stderr}"

    def close(self) -> None:
        for path in reversed(self.files):
            self.podman("kube", "down", str(path), timeout=180)
        for name in self.volumes:
            self.podman("volume", "rm", "--force", name)
        for name in self.secrets:
            self.podman("secret", "rm", name)


def _job_as_pod(job: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": job["metadata"]["name"]},
        "spec": job["spec"]["template"]["spec"],
    }


def _wait_exited(play: Play, container: str, timeout: float = 240) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = play.check("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container).split()
        if state[0] in ("exited", "stopped"):
            return int(state[1])
        time.sleep(1)
    raise AssertionError(f"{container} still runs after {timeout} s\n{play.logs(container)}")


def _wait_ready(base_url: str, play: Play, api_container: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.5)
    raise AssertionError(f"the API pod did not become ready\n{play.logs(api_container)}")


@pytest.fixture
def played(tmp_path: Path) -> Iterator[tuple[str, Rendered, Play]]:
    """overlays/small rendered for this machine and played: the init pod to its end, then every
    Deployment; yields the API's URL, the rendered objects and the play."""
    require_kubectl()
    require_tools("podman")
    server = require_server()
    redis_url = require_redis()
    started = time.monotonic()
    image = appliance_image()
    print(f"kube play test: image ready after {time.monotonic() - started:.1f} s")
    prefix = f"k8stest{uuid.uuid4().hex[:8]}"
    with ExitStack() as stack:
        database_url = create_database(server)
        stack.callback(drop_database, database_url, server)
        stack.callback(delete_queue_keys, redis_url, prefix)
        redis = urlsplit(redis_url)
        port = free_port()
        values = {
            "port": str(port),
            "database_url": database_url,
            "redis_url": redis_url,
            "redis_address": f"{redis.hostname}:{redis.port or 6379}",
            "redis_password": redis.password or "",
        }
        rendered = render(_test_kustomization(tmp_path / "kustomization", prefix, image, values))
        play = Play(tmp_path)
        stack.callback(play.close)
        for secret in rendered.of_kind("Secret"):
            play.secret(secret)
        config_maps = rendered.of_kind("ConfigMap")
        (job,) = rendered.of_kind("Job")
        started = time.monotonic()
        play.play("init", [*config_maps, *rendered.of_kind("PersistentVolumeClaim"), _job_as_pod(job)])
        init_container = f"{job['metadata']['name']}-appliance"
        exit_code = _wait_exited(play, init_container)
        assert exit_code == 0, play.logs(init_container)
        print(f"kube play test: the init pod took {time.monotonic() - started:.1f} s")
        started = time.monotonic()
        play.play("deployments", [*config_maps, *rendered.of_kind("Deployment")])
        api_container = f"{prefix}-appliance-api-pod-0-appliance"
        base_url = f"http://127.0.0.1:{port}"
        _wait_ready(base_url, play, api_container)
        print(f"kube play test: the Deployments' pods were ready after {time.monotonic() - started:.1f} s")
        yield base_url, rendered, play


def test_the_rendered_pods_resolve_a_folder(played: tuple[str, Rendered, Play], tmp_path: Path) -> None:
    base_url, rendered, play = played
    pods = {d["metadata"]["name"]: f"{d['metadata']['name']}-pod-0" for d in rendered.of_kind("Deployment")}
    running = play.check("ps", "--format", "{{.Names}}").split()
    for deployment, pod in pods.items():
        assert f"{pod}-appliance" in running, f"{deployment}'s pod is not running\n{play.logs(f'{pod}-appliance')}"
    # the image's user, with the root filesystem read-only, as the manifests ask
    api_container = next(f"{pod}-appliance" for name, pod in pods.items() if name.endswith("appliance-api"))
    assert play.check("exec", api_container, "id", "-u").strip() == "10001"
    assert play.check("inspect", "--format", "{{.HostConfig.ReadonlyRootfs}}", api_container).strip() == "true"

    started = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=60) as client:
        login = client.post(
            "/api/authorize/auth", json={"credentials": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
        )
        assert login.status_code == 200, login.text
        client.headers["X-Forensic-Access-Token"] = login.json()["access_token"]
        payload = {"media:tags": {"selfie": ["photo_selfie"]}}
        created = client.post(
            "/api/folders/",
            data={"payload": json.dumps(payload)},
            files={"selfie": ("selfie.jpg", jpeg_bytes(astronaut_rgb()), "image/jpeg")},
        )
        assert created.status_code == 201, created.text
        folder_id = created.json()["folder_id"]
        started_analyses = client.post(f"/api/folders/{folder_id}/analyses/", json={"analyses": [{"type": "quality"}]})
        assert started_analyses.status_code == 201, started_analyses.text
        folder = poll_folder(client, folder_id, timeout=180)
        version = client.get("/api/version").json()
    print(f"kube play test: the folder resolved in {time.monotonic() - started:.1f} s")
    workers = [f"{pod}-appliance" for name, pod in pods.items() if "worker" in name]
    assert folder["resolution_status"] == "FINISHED", "\n".join(play.logs(c) for c in workers)
    (analysis,) = folder["analyses"]
    assert analysis["type"] == "QUALITY"
    assert analysis["resolution_status"] in ("SUCCESS", "DECLINED", "OPERATOR_REQUIRED"), analysis
    (result,) = analysis["results_media"]
    assert 0.0 <= result["results_data"]["confidence_spoofing"] <= 1.0
    # every pod reports as a host named after itself: the analysis ran in the analysis worker's pod
    hosts = {host["hostname"] for host in version["hosts"]}
    analysis_pod = next(pod for name, pod in pods.items() if name.endswith("worker-analysis"))
    assert analysis_pod in hosts, hosts
