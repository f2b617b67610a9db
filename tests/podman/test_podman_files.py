"""The shipped compose and Quadlet files are read by the tools that will run them.

Every compose file passes pip's `podman-compose config` (Debian's 1.0.3 has no `config`); every
Quadlet file is turned into its systemd service (by podman's generator where the host has it,
else by tests/podman/quadlet.py: podman 4.3 has none) and `systemd-analyze verify` accepts each.
Both run a worker for every queue the appliance has.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from appliance.core.queues import QUEUE_NAMES
from tests.podman.podman_tools import PODMAN_DIR, check_run, compose_command, podman_env, require_tools, run
from tests.podman.quadlet import generate_units, parse_unit, render_units
from tests.support.systemd_units import verify_unit

pytestmark = pytest.mark.timeout(120)

ONE_HOST = PODMAN_DIR / "compose.yaml"
TWO_HOSTS = PODMAN_DIR / "compose.two-hosts.yaml"
QUADLET_DIR = PODMAN_DIR / "quadlet"
APPLIANCE_IMAGE = "localhost/liveness-appliance:latest"
WORKERS = {f"worker-{queue}" for queue in QUEUE_NAMES}
#: What the two-host file needs to be read (passwords have no default).
TWO_HOST_VARIABLES = {"POSTGRES_PASSWORD": "postgres-secret", "REDIS_PASSWORD": "redis-secret"}


def compose_config(file: Path, *profiles: str, **variables: str) -> dict[str, Any]:
    require_tools("podman", "podman-compose")
    options = [arg for profile in profiles for arg in ("--profile", profile)]
    result = check_run([*compose_command(file), *options, "config"], podman_env(**variables))
    return yaml.safe_load(result.stdout)


def test_compose_files_are_all_tested() -> None:
    assert {p.name for p in PODMAN_DIR.glob("compose*.yaml")} == {ONE_HOST.name, TWO_HOSTS.name}


def test_one_host_compose_runs_every_part_from_one_image_on_two_volumes() -> None:
    services = compose_config(ONE_HOST)["services"]
    assert set(services) == {"api", "scheduler", *WORKERS}
    assert {s["image"] for s in services.values()} == {APPLIANCE_IMAGE}
    for name, service in services.items():
        assert service["volumes"] == ["data:/var/lib/appliance/data", "models:/var/lib/appliance/models"], name
        assert ("healthcheck" not in service) == (name == "api"), "only the API keeps the image's health check"
    assert services["api"]["ports"] == ["8080:8080"]
    assert {s["command"][2] for n, s in services.items() if n in WORKERS} == set(QUEUE_NAMES)


def test_two_hosts_compose_puts_the_api_on_a_and_the_workers_on_b() -> None:
    both = compose_config(TWO_HOSTS, "host-a", "host-b", **TWO_HOST_VARIABLES)
    host_a = compose_config(TWO_HOSTS, "host-a", **TWO_HOST_VARIABLES)["services"]
    host_b = compose_config(TWO_HOSTS, "host-b", **TWO_HOST_VARIABLES)["services"]
    assert set(host_a) == {"postgres", "redis", "api", "scheduler"}
    assert set(host_b) == WORKERS
    assert set(both["services"]) == set(host_a) | set(host_b)
    for name in {"api", "scheduler", *WORKERS}:
        service = both["services"][name]
        environment = service["environment"]
        assert environment["APPLIANCE_DATABASE_URL"] == "postgresql://appliance:postgres-secret@postgres:5432/appliance"
        assert environment["APPLIANCE_QUEUE__REDIS_URL"] == "redis://:redis-secret@redis:6379/0"
        assert environment["APPLIANCE_HOST_NAME"] == ("host-b" if name in WORKERS else "host-a")
        assert "shared:/var/lib/appliance/shared" in service["volumes"]
        for setting in ("APPLIANCE_STORAGE_ROOT", "APPLIANCE_MODELS_ROOT", "APPLIANCE_CONFIG"):
            assert environment[setting].startswith("/var/lib/appliance/shared/"), setting
    assert both["volumes"]["shared"]["name"] == "appliance-shared"


def test_two_hosts_compose_names_host_a_for_host_b() -> None:
    services = compose_config(
        TWO_HOSTS, "host-b", APPLIANCE_POSTGRES_HOST="10.0.0.1", APPLIANCE_REDIS_HOST="10.0.0.1", **TWO_HOST_VARIABLES
    )["services"]
    environment = services["worker-analysis"]["environment"]
    assert "@10.0.0.1:5432/" in environment["APPLIANCE_DATABASE_URL"]
    assert "@10.0.0.1:6379/" in environment["APPLIANCE_QUEUE__REDIS_URL"]


def test_two_hosts_compose_refuses_to_run_without_passwords() -> None:
    require_tools("podman", "podman-compose")
    variables = {k: v for k, v in podman_env().items() if k not in TWO_HOST_VARIABLES}
    result = run([*compose_command(TWO_HOSTS), "--profile", "host-a", "config"], variables)
    assert result.returncode != 0
    assert "set POSTGRES_PASSWORD" in result.stderr


def test_quadlet_units_cover_every_part() -> None:
    units = {path.name: parse_unit(path) for path in QUADLET_DIR.iterdir()}
    commands = {
        name: shlex.split(unit.values("Container", "Exec")[0])
        for name, unit in units.items()
        if name.endswith(".container")
    }
    assert commands.pop("appliance-api.container") == ["serve"]
    assert commands.pop("appliance-scheduler.container") == ["scheduler"]
    assert {command[2] for command in commands.values()} == set(QUEUE_NAMES)
    for name, unit in units.items():
        for key, suffix in (("Volume", ".volume"), ("Network", ".network")):
            for value in unit.values("Container", key):
                source = value.split(":", 1)[0]
                assert source.endswith(suffix) and source in units, f"{name}: {key}={value} names no unit here"
        if name.endswith(".container"):
            assert unit.values("Container", "Image") == [APPLIANCE_IMAGE]
            expected_health = [] if name == "appliance-api.container" else ["none"]
            assert unit.values("Container", "HealthCmd") == expected_health, name


def _verify(units: list[Path]) -> None:
    """`systemd-analyze verify` says nothing about any of `units` (they require each other: one directory)."""
    problems = [problem for unit in units for problem in verify_unit(unit, unit.parent, replace={})]
    assert not problems, "\n".join(problems)


def test_quadlet_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    require_tools("podman")  # ExecStart= runs it: verify checks it exists
    units = generate_units(QUADLET_DIR, tmp_path)
    assert {p.name for p in units} == {
        f"{p.stem}.service" if p.suffix == ".container" else f"{p.stem}-{p.suffix[1:]}.service"
        for p in QUADLET_DIR.iterdir()
    }
    _verify(units)


@pytest.mark.parametrize(
    ("line", "refusal"),
    [
        ("Imag=localhost/x", "unsupported key 'Imag'"),  # a typo Quadlet would refuse
        ("Ulimit=nofile=1024:1024", "renderer does not know 'Ulimit'"),  # known to Quadlet, not to the renderer
    ],
)
def test_the_renderer_refuses_what_it_cannot_render(tmp_path: Path, line: str, refusal: str) -> None:
    source = tmp_path / "quadlet"
    source.mkdir()
    (source / "x.container").write_text(f"[Container]\nImage=localhost/x\n{line}\n")
    with pytest.raises(ValueError, match=refusal):
        render_units(source, tmp_path)


def test_systemd_analyze_verify_catches_a_bad_unit(tmp_path: Path) -> None:
    require_tools("podman")  # ExecStart= runs it: verify checks it exists
    source = tmp_path / "quadlet"
    source.mkdir()
    (source / "x.container").write_text("[Container]\nImage=localhost/x\n[Service]\nRestart=sometimes\n")
    with pytest.raises(AssertionError, match="restart specifier"):
        _verify(render_units(source, tmp_path))
