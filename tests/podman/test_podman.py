"""The appliance's image, built and run for real with no registry and no package index.

The base image is podman/build-base's debootstrap image (.ci/run builds it before the tests; built
here when absent), the wheelhouse is kept between runs in the user's cache, the image is built by
podman/build-image with --network none, and podman/compose.yaml runs it: `appliance init` inside a
container, then the API, the workers and the scheduler, each in its own container, on two volumes.
A folder posted to the published port gets BIOMETRY and QUALITY results, the API's health check
reports healthy, and everything the compose project made (containers, pod, network, volumes) is
removed, whether the test passed or not.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.podman.podman_tools import (
    PODMAN_DIR,
    appliance_image,
    check_run,
    compose_command,
    podman_env,
    require_tools,
    run,
)
from tests.support.id_photos import id_card_from
from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD, free_port, poll_folder
from tests.support.media_samples import ASTRONAUT_FACE, astronaut_rgb, jpeg_bytes

pytestmark = pytest.mark.timeout(900)

#: The label podman-compose puts on everything it creates for a project.
PROJECT_LABEL = "io.podman.compose.project"
APPLIANCE_UID = "10001"


@contextmanager
def timed(step: str) -> Iterator[None]:
    """Print how long `step` took (pytest shows it with -s, or with the report of a failure)."""
    started = time.monotonic()
    try:
        yield
    finally:
        print(f"podman test: {step} took {time.monotonic() - started:.1f} s")


@dataclass(frozen=True)
class Deployment:
    project: str
    base_url: str
    env: dict[str, str]

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"

    def logs(self, service: str) -> str:
        result = run(["podman", "logs", "--tail", "60", self.container(service)], self.env)
        return result.stdout + result.stderr


@pytest.fixture(scope="module")
def image() -> str:
    """The appliance's image, built from a fresh wheelhouse of this checkout (once per session)."""
    require_tools("podman", "podman-compose")
    return appliance_image()


def _project_objects(project: str, env: dict[str, str]) -> dict[str, list[str]]:
    """The containers and volumes podman-compose made for `project`."""
    label = f"label={PROJECT_LABEL}={project}"
    return {
        "container": run(["podman", "ps", "--all", "--quiet", "--filter", label], env).stdout.split(),
        "volume": run(["podman", "volume", "ls", "--quiet", "--filter", label], env).stdout.split(),
    }


def _remove_project(project: str, compose: list[str], env: dict[str, str]) -> None:
    """`down` with volumes, then whatever of the project is left; fails if something stays."""
    with timed("down"):
        run([*compose, "down", "--volumes", "--timeout", "20"], env, timeout=180)
    for kind, names in _project_objects(project, env).items():
        for name in names:
            run(["podman", kind, "rm", "--force", name], env)
    run(["podman", "pod", "rm", "--force", "--ignore", f"pod_{project}"], env)
    if run(["podman", "network", "exists", f"{project}_default"], env).returncode == 0:
        run(["podman", "network", "rm", "--force", f"{project}_default"], env)
    remaining = _project_objects(project, env)
    assert not any(remaining.values()), f"compose project {project} left {remaining}"


@pytest.fixture(scope="module")
def deployment(image: str) -> Iterator[Deployment]:
    """podman/compose.yaml initialised and up under a project name of its own, on a free port."""
    project = f"appliance-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = podman_env(APPLIANCE_IMAGE=image, APPLIANCE_PUBLISH=f"127.0.0.1:{port}")
    compose = compose_command(PODMAN_DIR / "compose.yaml", project=project)
    deployment = Deployment(project, f"http://127.0.0.1:{port}", env)
    try:
        with timed("init"):
            password = f"APPLIANCE_ADMIN_PASSWORD={ADMIN_PASSWORD}"
            check_run([*compose, "run", "--rm", "-e", password, "api", "init", "--admin-email", ADMIN_EMAIL], env)
        with timed("up until ready"):
            check_run([*compose, "up", "-d"], env, timeout=300)
            _wait_ready(deployment)
        yield deployment
    finally:
        _remove_project(project, compose, env)


def _wait_ready(deployment: Deployment, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{deployment.base_url}/health/ready", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.5)
    raise AssertionError(f"the API did not become ready\n{deployment.logs('api')}")


def _login(client: httpx.Client) -> str:
    response = client.post(
        "/api/authorize/auth", json={"credentials": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
    )
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def test_a_folder_gets_biometry_and_quality_through_the_published_port(deployment: Deployment, tmp_path: Path) -> None:
    photo = astronaut_rgb()
    selfie = tmp_path / "selfie.jpg"
    selfie.write_bytes(jpeg_bytes(photo))
    card = id_card_from(photo, ASTRONAUT_FACE, tmp_path / "id.jpg")
    with httpx.Client(base_url=deployment.base_url, timeout=60) as client, timed("flow"):
        client.headers["X-Forensic-Access-Token"] = _login(client)
        payload = {"media:tags": {"selfie": ["photo_selfie"], "id": ["photo_id", "photo_id_front"]}}
        with selfie.open("rb") as selfie_file, card.open("rb") as card_file:
            created = client.post(
                "/api/folders/", data={"payload": json.dumps(payload)}, files={"selfie": selfie_file, "id": card_file}
            )
        assert created.status_code == 201, created.text
        folder_id = created.json()["folder_id"]
        started = client.post(
            f"/api/folders/{folder_id}/analyses/", json={"analyses": [{"type": "biometry"}, {"type": "quality"}]}
        )
        assert started.status_code == 201, started.text
        folder = poll_folder(client, folder_id, timeout=180)
    assert folder["resolution_status"] == "FINISHED", deployment.logs("worker-analysis")
    analyses = {analysis["type"]: analysis for analysis in folder["analyses"]}
    assert set(analyses) == {"BIOMETRY", "QUALITY"}
    assert analyses["BIOMETRY"]["resolution_status"] == "SUCCESS", analyses["BIOMETRY"]
    (quality,) = analyses["QUALITY"]["results_media"]
    assert 0.0 <= quality["results_data"]["confidence_spoofing"] <= 1.0


def test_the_api_health_check_reports_healthy(deployment: Deployment) -> None:
    api = deployment.container("api")
    # podman runs health checks from systemd timers; without systemd as PID 1 (CI), run it by hand
    check_run(["podman", "healthcheck", "run", api], deployment.env)
    status = check_run(["podman", "inspect", "--format", "{{.State.Health.Status}}", api], deployment.env)
    assert status.stdout.strip() == "healthy"


def test_every_part_runs_as_the_unprivileged_user(deployment: Deployment) -> None:
    for service in ("api", "scheduler", "worker-analysis"):
        uid = check_run(["podman", "exec", deployment.container(service), "id", "-u"], deployment.env)
        assert uid.stdout.strip() == APPLIANCE_UID, service
