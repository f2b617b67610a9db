"""Running podman, podman-compose and the scripts of podman/ from the tests.

Every podman command of the tests reads this folder's containers.conf (through CONTAINERS_CONF):
the runtime and limits this kind of host needs, which the shipped files never carry.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tests.support.missing import missing

__all__ = [
    "BASE_IMAGE",
    "CONTAINERS_CONF",
    "IMAGE",
    "PODMAN_DIR",
    "REPO_ROOT",
    "check_run",
    "appliance_image",
    "compose_command",
    "podman_env",
    "require_tools",
    "run",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
PODMAN_DIR = REPO_ROOT / "podman"
CONTAINERS_CONF = Path(__file__).with_name("containers.conf")
BASE_IMAGE = "localhost/appliance-base:bookworm"
#: Not `latest`: the tests must not replace an image a site runs.
IMAGE = "localhost/liveness-appliance:test"
#: Tools and the Python modules that stand for them.
_MODULES = {"podman-compose": "podman_compose"}


def require_tools(*tools: str) -> None:
    """Skip the test when one of `tools` is missing; fail it under CI=true, where .ci/run installs them."""
    absent = [
        tool
        for tool in tools
        if (importlib.util.find_spec(_MODULES[tool]) is None if tool in _MODULES else shutil.which(tool) is None)
    ]
    if absent:
        missing(f"{', '.join(absent)} not installed (.ci/run installs them: apt podman runc catatonit, pip [dev])")


def podman_env(**variables: str) -> dict[str, str]:
    """This process's environment with the tests' containers.conf, plus `variables`."""
    return {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF), **variables}


def compose_command(*files: Path, project: str | None = None) -> list[str]:
    """podman-compose (pip's, run by this interpreter) on `files`, for `project` if named."""
    command = [sys.executable, "-m", "podman_compose"]
    if project:
        command += ["--project-name", project]
    for file in files:
        command += ["--file", str(file)]
    return command


def run(command: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `command` to its end in the repository's root, its output captured."""
    return subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def check_run(command: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`run`, failing the test with the command's output when it exits non-zero."""
    result = run(command, env, timeout)
    assert result.returncode == 0, (
        f"{' '.join(command)} exited with {result.returncode}\n"
        f"--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    return result


@functools.cache
def appliance_image() -> str:
    """The appliance's image, built once per test session from a fresh wheelhouse of this checkout
    (tests/podman and tests/deploy share it): podman/build-base's base when absent, then
    podman/build-image. Its build's steps and times are printed (pytest shows them with -s)."""
    require_tools("podman")
    with _one_build_at_a_time():  # test processes running in parallel share the wheelhouse and the tag
        return _build_image()


@contextlib.contextmanager
def _one_build_at_a_time() -> Iterator[None]:
    with (Path(tempfile.gettempdir()) / "liveness-appliance-test-image.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _build_image() -> str:
    env = podman_env(IMAGE=IMAGE, BASE_IMAGE=BASE_IMAGE)
    started = time.monotonic()
    check_run([str(PODMAN_DIR / "build-base"), BASE_IMAGE], env, timeout=600)
    print(f"podman tests: base image (debootstrap, skipped when present) took {time.monotonic() - started:.1f} s")
    before = run(["podman", "image", "inspect", "--format", "{{.Id}}", IMAGE], env).stdout.strip()
    started = time.monotonic()
    check_run([str(PODMAN_DIR / "build-image")], env, timeout=900)
    print(f"podman tests: wheelhouse and image build took {time.monotonic() - started:.1f} s")
    after = run(["podman", "image", "inspect", "--format", "{{.Id}}", IMAGE], env).stdout.strip()
    if before and before != after:
        # the previous test image, now untagged; left alone if a container still uses it
        run(["podman", "image", "rm", before], env)
    return IMAGE
