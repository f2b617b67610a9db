"""The systemd units (packaging/systemd, docs/systemd.md): `systemd-analyze verify` and
`security` on each, the same hardening everywhere, the user and directories made by sysusers.d
and tmpfiles.d in a scratch root, and the whole appliance (API, every queue's workers, the
scheduler) running a real folder under the system call filters its units ask for."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from appliance.core.queues import QUEUE_NAMES
from tests.support.live import ADMIN_EMAIL, LiveAppliance, appliance_env, free_port, run_command
from tests.support.media_samples import build_valid_samples
from tests.support.missing import missing
from tests.support.shared_data import SKIP_REASON, shared_file
from tests.support.systemd_units import require_tool, unit_copy, unit_settings, verify_unit
from tests.support.unit_sandbox import sandbox_launcher

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "packaging" / "systemd"
API, WORKER, SCHEDULER = (
    UNITS / name for name in ("appliance-api.service", "appliance-worker@.service", "appliance-scheduler.service")
)
SERVICES = (API, WORKER, SCHEDULER)
TARGET = UNITS / "appliance.target"
#: Where the units expect the appliance, and where this checkout's is.
INSTALLED = {"/usr/local/bin/appliance": str(Path(sys.executable).with_name("appliance"))}

#: Every appliance service has these settings, and the same hardening block (docs/systemd.md).
COMMON = {
    "Type": ["notify"],
    "User": ["appliance"],
    "Group": ["appliance"],
    "StateDirectory": ["appliance"],
    "EnvironmentFile": ["-/etc/appliance/appliance.env"],
    "Restart": ["on-failure"],
}
HARDENING = {
    "NoNewPrivileges": ["yes"],
    "CapabilityBoundingSet": [""],
    "ProtectSystem": ["strict"],
    "ProtectHome": ["yes"],
    "PrivateTmp": ["yes"],
    "PrivateDevices": ["yes"],
    "ProtectKernelTunables": ["yes"],
    "ProtectKernelModules": ["yes"],
    "ProtectKernelLogs": ["yes"],
    "ProtectControlGroups": ["yes"],
    "ProtectClock": ["yes"],
    "ProtectHostname": ["yes"],
    "ProtectProc": ["invisible"],
    "PrivateMounts": ["yes"],
    "RestrictAddressFamilies": ["AF_UNIX AF_INET AF_INET6"],
    "RestrictNamespaces": ["yes"],
    "RestrictRealtime": ["yes"],
    "RestrictSUIDSGID": ["yes"],
    "LockPersonality": ["yes"],
    "MemoryDenyWriteExecute": ["yes"],
    "SystemCallArchitectures": ["native"],
    "SystemCallFilter": ["@system-service", "~@privileged @resources"],
    "SystemCallErrorNumber": ["EPERM"],
    "UMask": ["0027"],
}
#: The highest `systemd-analyze security` exposure a unit may have (measured with systemd 252: 1.3 each).
MAX_EXPOSURE = 1.5


def _instances(unit: Path) -> list[str | None]:
    return list(QUEUE_NAMES) if unit == WORKER else [None]


def test_systemd_analyze_verifies_every_unit(tmp_path: Path) -> None:
    for unit in (*SERVICES, TARGET):
        for instance in _instances(unit):
            replace = INSTALLED if unit != TARGET else {}
            problems = verify_unit(unit, tmp_path, replace=replace, instance=instance)
            assert not problems, f"{unit.name} {instance or ''}:\n" + "\n".join(problems)


def test_verify_finds_a_program_that_is_not_there(tmp_path: Path) -> None:
    """The check above can fail: the installed path does not exist on a test machine."""
    problems = verify_unit(API, tmp_path, replace={})
    assert any("/usr/local/bin/appliance" in line for line in problems), problems


def test_every_service_runs_as_the_appliance_user_hardened_alike() -> None:
    for unit in SERVICES:
        service = unit_settings(unit)
        assert {key: service.get(key) for key in COMMON} == COMMON, unit.name
        assert {key: service.get(key) for key in HARDENING} == HARDENING, unit.name
        environment = " ".join(service["Environment"]).split()
        assert {"APPLIANCE_DATA_DIR=/var/lib/appliance", "APPLIANCE_CONFIG=/etc/appliance/appliance.toml"} <= set(
            environment
        ), unit.name
        assert re.fullmatch(r"\d+s", service["WatchdogSec"][0]), unit.name
        assert service["ExecStart"][0].startswith("/usr/local/bin/appliance "), unit.name
        assert unit_settings(unit, "Unit")["PartOf"] == ["appliance.target"]
        assert unit_settings(unit, "Install")["WantedBy"] == ["appliance.target"]
    assert unit_settings(TARGET, "Install")["WantedBy"] == ["multi-user.target"]


def test_the_worker_template_takes_the_queue_as_its_instance() -> None:
    worker = unit_settings(WORKER)
    assert worker["ExecStart"] == ["/usr/local/bin/appliance worker --queue %i --workers ${WORKERS}"]
    assert worker["KillSignal"] == ["SIGINT"]  # Huey's graceful stop: running tasks finish
    help_text = run_command(dict(os.environ), "worker", "--help").stdout
    docs = (ROOT / "docs" / "systemd.md").read_text()
    for queue in QUEUE_NAMES:
        assert queue in help_text and f"appliance-worker@{queue}" in docs


def test_exposure_scores_stay_low(tmp_path: Path) -> None:
    analyze = require_tool("systemd-analyze")
    for unit in SERVICES:
        copy = unit_copy(unit, tmp_path, replace=INSTALLED, instance="analysis" if unit == WORKER else None)
        result = subprocess.run(
            [analyze, "security", "--offline=yes", "--no-pager", str(copy)],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", result.stdout)
        assert found, result.stdout + result.stderr
        assert float(found[1]) <= MAX_EXPOSURE, f"{unit.name}: {found[0]}"


def test_sysusers_and_tmpfiles_make_the_user_and_its_directories(tmp_path: Path) -> None:
    sysusers, tmpfiles = require_tool("systemd-sysusers"), require_tool("systemd-tmpfiles")
    if os.geteuid() != 0:
        missing("systemd-tmpfiles gives directories to another user only as root")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for kind in ("sysusers.d", "tmpfiles.d"):
        (root / "usr" / "lib" / kind).mkdir(parents=True)
        (root / "usr" / "lib" / kind / "appliance.conf").write_text((UNITS / kind / "appliance.conf").read_text())
    for command in ([sysusers, f"--root={root}"], [tmpfiles, f"--root={root}", "--create"]):
        result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    users = {line.split(":")[0]: line.split(":") for line in (root / "etc" / "passwd").read_text().splitlines()}
    _, _, uid, gid, _, home, shell = users["appliance"]
    assert home == "/var/lib/appliance" and shell.endswith("nologin")
    for directory in ("var/lib/appliance", "etc/appliance"):
        stat = (root / directory).stat()
        assert (stat.st_uid, stat.st_gid, oct(stat.st_mode & 0o777)) == (int(uid), int(gid), "0o750"), directory


_FILTERS_BITE = """
import errno, mmap, os, socket
try:
    mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    raise SystemExit("writable and executable memory was allowed")
except PermissionError:
    pass
try:
    socket.socket(socket.AF_NETLINK, socket.SOCK_RAW)
    raise SystemExit("AF_NETLINK was allowed")
except OSError as exc:
    assert exc.errno == errno.EAFNOSUPPORT, exc
for name, call in (("chroot", lambda: os.chroot("/")), ("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 5))):
    try:
        call()
        raise SystemExit(name + " (@privileged, @resources) was allowed")
    except PermissionError:
        pass
print("refused")
"""


_RUN_MINIFASNET = """
import sys
from pathlib import Path
import numpy as np
from appliance.runtime.onnx import OnnxModel
model = OnnxModel(Path(sys.argv[1]), threads=1)
shape = [1 if not isinstance(d, int) else d for d in model.inputs[0].shape]
print(model.invoke([np.zeros(shape, np.float32)])[0].shape)
"""


def _under_filters(unit: Path, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*sandbox_launcher(unit), *command], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.shared_data
def test_onnx_runtime_runs_under_the_filters() -> None:
    """ONNX Runtime (the PAD models' runtime) too, on a real network: MiniFASNet from the shared data."""
    require_tool("systemd-analyze")
    model = shared_file("models/minifas_best_model.onnx")
    if model is None:
        pytest.skip(SKIP_REASON)
    result = _under_filters(WORKER, sys.executable, "-c", _RUN_MINIFASNET, str(model))
    assert result.returncode == 0 and result.stdout.strip() == "(1, 2)", result.stdout + result.stderr
    assert "Operation not permitted" not in result.stderr


@pytest.mark.timeout(300)
def test_the_appliance_runs_under_its_units_system_call_filters(tmp_path: Path) -> None:
    """The units cannot be started here (no systemd as PID 1), but their seccomp filters can be
    loaded (tests/support/unit_sandbox.py): the JIT-free ML runtimes (LiteRT with XNNPACK, dlib,
    OpenCV) must run with MemoryDenyWriteExecute= and the system call allow list."""
    require_tool("systemd-analyze")
    bite = _under_filters(API, sys.executable, "-c", _FILTERS_BITE)
    assert bite.stdout.strip() == "refused", bite.stdout + bite.stderr

    samples = build_valid_samples(tmp_path / "samples")
    port = free_port()
    data_dir = tmp_path / "appliance"
    env = appliance_env(data_dir, port)
    init = run_command(env, "init", "--admin-email", ADMIN_EMAIL)
    assert init.returncode == 0, init.stderr
    live = LiveAppliance(base_url=f"http://127.0.0.1:{port}", env=env, data_dir=data_dir, log_dir=data_dir / "logs")
    live.log_dir.mkdir()
    try:
        live.launcher = sandbox_launcher(API)
        live.start_process("api", "serve")
        live.launcher = sandbox_launcher(WORKER)
        for queue in QUEUE_NAMES:
            live.start_process(f"worker-{queue}", "worker", "--queue", queue, "--workers", "1")
        live.launcher = sandbox_launcher(SCHEDULER)
        live.start_process("scheduler", "scheduler")
        live.wait_ready()
        for name, process in live.processes.items():  # the launcher exec'd the appliance, filters loaded
            assert "Seccomp:\t2" in Path(f"/proc/{process.pid}/status").read_text(), name
        client = live.client(live.login(), timeout=240)
        tags = {"photo": ["photo_selfie"], "video": ["video_selfie", "video_selfie_blank"]}
        payload = {"media:tags": tags, "analyses": [{"type": "quality"}, {"type": "biometry"}]}
        with samples["jpeg"].open("rb") as photo, samples["mp4"].open("rb") as video:
            response = client.post(
                "/api/folders/", data={"payload": json.dumps(payload)}, files={"photo": photo, "video": video}
            )
        assert response.status_code == 201, response.text
        folder = response.json()
        assert folder["resolution_status"] == "FINISHED", live.logs()
        assert {a["type"]: a["state"] for a in folder["analyses"]} == {"QUALITY": "FINISHED", "BIOMETRY": "FINISHED"}
        biometry = next(a for a in folder["analyses"] if a["type"] == "BIOMETRY")
        assert biometry["resolution_status"] == "SUCCESS", biometry  # the same face, embedded by dlib

        instant = {"media:tags": {"photo": ["photo_selfie"]}, "analyses": [{"type": "quality"}]}
        with samples["jpeg"].open("rb") as photo:  # the models run in the API process itself
            response = client.post(
                "/api/instant/folders/", data={"payload": json.dumps(instant)}, files={"photo": photo}
            )
        assert response.status_code == 200 and response.json()["resolution_status"] == "FINISHED", response.text
    finally:
        live.stop()
    assert "Operation not permitted" not in live.logs(tail=None)
