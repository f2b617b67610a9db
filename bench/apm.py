"""Analyses per minute (APM) of the standard mix on a real appliance, against the pure compute of the same analyses.

The standard mix is one folder with a 5 s 720x1280 selfie video at 1 Mbit/s (shared data
bench/selfie720p_1mbps.mp4, tags video_selfie and video_selfie_blank) and an ID photo
(documents/passport-td3.jpg, photo_id_front), asking QUALITY and BIOMETRY in the single-request
mode. Each analysis counts once (BIOMETRY of the pair once), so one folder is 2 analyses.

The bench starts `appliance run` (SQLite, the local queue, as many analysis worker processes as
this process may use cores), warms every worker up, then uploads `--folders` folders from
`--concurrency` clients, each posting its next folder as soon as the last one is resolved, so the
analysis queue never runs dry. It prints:

- APM: analyses over the wall time from the first upload to the last resolution (the folder's
  `time_updated` when it became final), and APM per core (the cores the workers may run on);
- p50 / p95 latency from the start of a folder's upload to its resolution;
- CPU time of the analysis worker processes per analysis (/proc utime + stime, their children
  included), and of every process of the appliance (API, every queue, scheduler);
- the pure compute of the same two analyses, measured in this process on one core and one thread
  before the load: both plugins' analyzers called directly on the two files with the same model
  store, one face-track service shared by the two (as one worker process shares it), nothing
  cached between mixes, no HTTP, queue or database; and the ratio of the workers' CPU per analysis
  to it;
- the resident memory of each analysis worker process after the run, and what the appliance
  stored per folder besides the uploads (derived files, database).

With `--pad`, Silent-Face's MiniFASNet pair is installed first by packaging/recipes/minifasnet.py
(as a site would; it converts the shared .pth weights with the PyTorch of .venv-convert, made by
scripts/setup-convert), so the QUALITY analyses run the PAD models too.

    .venv/bin/python bench/apm.py [--folders 48] [--concurrency 4] [--workers N] [--pad]
                                  [--video bench/selfie720p_5mbps.mp4]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the pure compute runs on one thread, as a worker does

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import msgspec
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from appliance.ops.settings import Thresholds  # noqa: E402
from appliance.runtime import ModelRuntime, ModelStore  # noqa: E402
from appliance.sdk import AnalysisContext, MediaInput  # noqa: E402
from appliance.sdk.requests import build_request  # noqa: E402
from appliance.sdk.testing import media_input, spec_from_plugin  # noqa: E402
from appliance.sdk.types import AnalyzerSpec, Outcome  # noqa: E402
from appliance.vision import VisionService  # noqa: E402
from bench.api import ADMIN_EMAIL, ADMIN_PASSWORD, free_port, start_appliance  # noqa: E402
from tests.support.shared_data import SHARED_DATA  # noqa: E402

VIDEO = "bench/selfie720p_1mbps.mp4"
PHOTO = "documents/passport-td3.jpg"
VIDEO_TAGS = ["video_selfie", "video_selfie_blank"]
PHOTO_TAGS = ["photo_id_front"]
ANALYSES = ("QUALITY", "BIOMETRY")
PAD_WEIGHTS = ("models/silentface_2.7_80x80_MiniFASNetV2.pth", "models/silentface_4_0_0_80x80_MiniFASNetV1SE.pth")
RECIPE = REPO_ROOT / "packaging" / "recipes" / "minifasnet.py"
TORCH_PYTHON = REPO_ROOT / ".venv-convert" / "bin" / "python"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# Processes of the appliance (/proc) ---------------------------------------------------------------


def _stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [state, ppid, ...] (field 3 onwards)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rfind(")") + 2 :].split()


def _children_by_parent() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except FileNotFoundError:
                continue  # ended meanwhile
    return found


def children(parent: int) -> list[int]:
    return _children_by_parent().get(parent, [])


def descendants(root: int) -> list[int]:
    """Every living process under `root` (not `root` itself)."""
    by_parent = _children_by_parent()
    found, todo = [], [root]
    while todo:
        for child in by_parent.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes and of their children that ended, in seconds."""
    ticks = 0
    for pid in pids:
        try:
            fields = _stat_fields(pid)
        except FileNotFoundError:
            continue
        ticks += sum(int(v) for v in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / CLOCK_TICKS


def parts(root: int) -> dict[str, list[int]]:
    """The processes of each part `appliance run` (process `root`) started, by part: `api`,
    `scheduler`, `worker-<queue>` (a consumer and its worker processes), and `run` (the supervisor)."""
    groups = {"run": [root]}
    for pid in children(root):
        try:
            argv = [a.decode() for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
        except FileNotFoundError:
            continue
        if "serve" in argv:
            groups["api"] = [pid, *descendants(pid)]
        elif "scheduler" in argv:
            groups["scheduler"] = [pid, *descendants(pid)]
        elif "--queue" in argv:
            groups[f"worker-{argv[argv.index('--queue') + 1]}"] = [pid, *descendants(pid)]
    if "worker-analysis" not in groups:
        raise SystemExit("apm: the analysis worker process of the appliance was not found")
    return groups


def memory_mib(pid: int) -> tuple[float, float]:
    """(resident, peak resident) MiB of a process."""
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


# The load ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FolderRun:
    started: float  # epoch seconds, as the appliance's timestamps
    answered: float
    resolved: float
    document: dict


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def post_folder(client: httpx.Client, video: bytes, photo: bytes) -> FolderRun:
    payload = {
        "media:tags": {"video": VIDEO_TAGS, "photo": PHOTO_TAGS},
        "analyses": [{"type": t} for t in ANALYSES],
    }
    files = {"video": ("selfie.mp4", video), "photo": ("id.jpg", photo)}
    started = time.time()
    response = client.post("/api/folders/", data={"payload": json.dumps(payload)}, files=files)
    answered = time.time()
    if response.status_code != 201:
        raise SystemExit(f"apm: upload refused ({response.status_code}): {response.text[:200]}")
    document = response.json()
    if document["resolution_status"] not in ("FINISHED", "FAILED"):
        raise SystemExit(f"apm: folder {document['folder_id']} not final after the single-request timeout")
    return FolderRun(started, answered, _epoch(document["time_updated"]), document)


def run_load(base_url: str, token: str, folders: int, concurrency: int, video: bytes, photo: bytes) -> list[FolderRun]:
    """`folders` folders from `concurrency` clients, each posting its next one once the last is resolved."""
    runs: list[FolderRun] = []
    lock = threading.Lock()
    tickets = iter(range(folders))

    def client_loop() -> None:
        with httpx.Client(base_url=base_url, headers={"X-Forensic-Access-Token": token}, timeout=120) as client:
            while True:
                with lock:
                    if next(tickets, None) is None:
                        return
                run = post_folder(client, video, photo)
                with lock:
                    runs.append(run)

    threads = [threading.Thread(target=client_loop) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if len(runs) != folders:
        raise SystemExit("apm: a client failed; see the messages above")
    return runs


# The pure compute -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PureCompute:
    cpu_ms: list[float]  # per mix (two analyses)
    wall_ms: list[float]
    outcomes: list[Outcome]


def pure_compute(models: Path, video: Path, photo: Path, repeat: int) -> PureCompute:
    """The two analyses called in this process, pinned to one core with one thread (see the docstring)."""
    import appliance_plugin_biometry
    import appliance_plugin_quality

    affinity = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {max(affinity)})
    try:
        runtime = ModelRuntime(ModelStore(models), threads=1)  # and OpenCV's threads

        specs = [
            spec_from_plugin(appliance_plugin_quality, "QUALITY"),
            spec_from_plugin(appliance_plugin_biometry, "BIOMETRY"),
        ]
        inputs = [media_input(video, VIDEO_TAGS), media_input(photo, PHOTO_TAGS)]
        thresholds = msgspec.structs.asdict(Thresholds())

        def mix() -> list[Outcome]:
            vision = VisionService(runtime, cache_dir=None)  # nothing cached between mixes; models stay loaded
            return [_analyze(spec, inputs, thresholds, vision) for spec in specs]

        mix()  # loads the models
        cpu, wall, outcomes = [], [], []
        for _ in range(repeat):
            cpu_started, wall_started = time.process_time(), time.perf_counter()
            outcomes = mix()
            cpu.append((time.process_time() - cpu_started) * 1000)
            wall.append((time.perf_counter() - wall_started) * 1000)
        return PureCompute(cpu, wall, outcomes)
    finally:
        os.sched_setaffinity(0, affinity)


def _analyze(spec: AnalyzerSpec, inputs: list[MediaInput], thresholds: dict, vision: VisionService) -> Outcome:
    request = build_request(spec, analysis_id=spec.type, params=None, media=inputs, thresholds=thresholds)
    return spec.analyzer.analyze(request, AnalysisContext(thresholds, vision=vision))


# Setup ------------------------------------------------------------------------------------------


def shared(relative: str) -> Path:
    path = SHARED_DATA / relative
    if not path.is_file():
        raise SystemExit(f"apm: {path} is missing: the benchmark needs the shared data (set APPLIANCE_TEST_DATA)")
    return path


def install_pad_models(models: Path) -> list[str]:
    """Silent-Face's MiniFASNet pair into the store, active, by the recipe; their names."""
    if not TORCH_PYTHON.is_file():
        raise SystemExit(
            f"apm: --pad needs the PyTorch of {TORCH_PYTHON.parent.parent.name}: run scripts/setup-convert"
        )
    weights = [shared(w) for w in PAD_WEIGHTS]
    before = set(ModelStore(models).names())
    command = [sys.executable, str(RECIPE), *(a for w in weights for a in ("--pth", str(w)))]
    done = subprocess.run([*command, "--store", str(models), "--activate"], capture_output=True, text=True)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"apm: the MiniFASNet recipe failed: {last_line}")
    return sorted(set(ModelStore(models).names()) - before)


def login(base_url: str) -> str:
    credentials = {"credentials": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
    return httpx.post(f"{base_url}/api/authorize/auth", json=credentials).json()["access_token"]


@dataclass(frozen=True, slots=True)
class StoredBytes:
    """What the appliance keeps per folder besides the uploads (identical uploads are stored once,
    so the bench's originals say nothing): derived files (thumbnails, face tracks, output images)
    and the database."""

    derived: float
    database: float

    @classmethod
    def of(cls, data_dir: Path, folders: int) -> StoredBytes:
        derived = sum(f.stat().st_size for f in (data_dir / "media" / "derived").rglob("*") if f.is_file())
        database = sum(f.stat().st_size for f in data_dir.glob("appliance.db*"))
        return cls(derived / folders, database / folders)


# Report -----------------------------------------------------------------------------------------


def _decisions(documents: list[dict]) -> str:
    counts: dict[str, int] = {}
    for document in documents:
        for analysis in document["analyses"]:
            key = f"{analysis['type']} {analysis['state']} {analysis['resolution_status']}"
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key} x{n}" for key, n in sorted(counts.items()))


def _scores(outcomes: list[Outcome] | list[dict]) -> str:
    """QUALITY's confidence_spoofing and BIOMETRY's min_confidence, from outcomes or analysis documents."""
    found = {}
    for item in outcomes:
        data = item.results_data if isinstance(item, Outcome) else item["results_data"]
        if "max_confidence_spoofing" in data:
            found["QUALITY confidence_spoofing"] = data["max_confidence_spoofing"]
        if "min_confidence" in data:
            found["BIOMETRY min_confidence"] = data["min_confidence"]
    return ", ".join(f"{k} {v}" for k, v in found.items())


def _row(label: str, value: str) -> None:
    print(f"  {label:<52} {value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=int, default=48, help="folders measured (2 analyses each)")
    parser.add_argument("--concurrency", type=int, default=0, help="clients (default: 2 per worker)")
    parser.add_argument("--workers", type=int, default=0, help="analysis worker processes (default: usable cores)")
    parser.add_argument("--pure-repeat", type=int, default=10, help="mixes timed for the pure compute")
    parser.add_argument("--pad", action="store_true", help="install and run the MiniFASNet PAD models")
    parser.add_argument("--video", default=VIDEO, help=f"the selfie video, in the shared data (default {VIDEO})")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    workers = args.workers or cores
    concurrency = args.concurrency or 2 * workers
    video_path, photo_path = shared(args.video), shared(PHOTO)
    video, photo = video_path.read_bytes(), photo_path.read_bytes()

    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="appliance-apm-") as tmp:
        data_dir = Path(tmp)
        process = start_appliance(data_dir, port, analysis_workers=workers)
        try:
            pad_models = install_pad_models(data_dir / "models") if args.pad else []
            pure = pure_compute(data_dir / "models", video_path, photo_path, args.pure_repeat)
            token = login(base_url)
            run_load(base_url, token, 2 * workers, 2 * workers, video, photo)  # every worker loads its models
            groups = parts(process.pid)
            load_before = os.getloadavg()[0]
            cpu_before = {name: cpu_seconds(pids) for name, pids in groups.items()}
            per_pid = {pid: cpu_seconds([pid]) for pid in groups["worker-analysis"]}
            client_before = time.process_time()
            runs = run_load(base_url, token, args.folders, concurrency, video, photo)
            client_cpu = time.process_time() - client_before
            cpu = {name: cpu_seconds(pids) - cpu_before[name] for name, pids in groups.items()}
            load_after = os.getloadavg()[0]
            # the consumer's children that ran analyses (Huey's scheduler process is one of them, idle)
            worker_pids = [pid for pid in groups["worker-analysis"][1:] if cpu_seconds([pid]) > per_pid[pid] + 1]
            worker_cores = len(os.sched_getaffinity(worker_pids[0]))
            memory = [memory_mib(pid) for pid in worker_pids]
            stored = StoredBytes.of(data_dir, folders=args.folders + 2 * workers)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)

    analyses = len(ANALYSES) * len(runs)
    wall = max(r.resolved for r in runs) - min(r.started for r in runs)
    apm = analyses * 60 / wall
    latency = [r.resolved - r.started for r in runs]
    answered = [r.answered - r.started for r in runs]
    pure_ms = statistics.median(pure.cpu_ms) / len(ANALYSES)
    worker_ms = cpu["worker-analysis"] * 1000 / analyses

    print(
        f"standard mix: QUALITY + BIOMETRY of {video_path.name} against {photo_path.name}; "
        f"{'PAD models ' + ', '.join(pad_models) if pad_models else 'default models (no PAD model)'}"
    )
    print(
        f"{args.folders} folders ({analyses} analyses), {concurrency} clients, {workers} analysis worker processes "
        f"on {worker_cores} cores; load average {load_before:.2f} before, {load_after:.2f} after\n"
    )
    _row("APM (analyses per minute)", f"{apm:.0f}")
    _row("APM per core", f"{apm / worker_cores:.0f}")
    _row("latency upload -> resolution p50 / p95", f"{_percentiles(latency)} s")
    _row("single-request answer p50 / p95", f"{_percentiles(answered)} s")
    _row("analysis run time p50 (started -> finished)", _run_times([r.document for r in runs]))
    _row("analysis workers' CPU per analysis", f"{worker_ms:.0f} ms")
    _row("analysis workers busy (CPU / their wall time)", f"{cpu['worker-analysis'] / (len(worker_pids) * wall):.0%}")
    _row(
        "pure compute per analysis (CPU, one thread)",
        f"{pure_ms:.0f} ms (wall {statistics.median(pure.wall_ms) / len(ANALYSES):.0f} ms; "
        f"{60_000 / pure_ms:.0f} APM per core)",
    )
    _row("analysis workers' CPU / pure compute", f"{worker_ms / pure_ms:.2f}x")
    _row(
        "CPU per analysis, every process of the appliance",
        f"{sum(cpu.values()) * 1000 / analyses:.0f} ms: "
        + ", ".join(f"{name} {seconds * 1000 / analyses:.0f}" for name, seconds in sorted(cpu.items())),
    )
    _row("CPU per analysis of this benchmark's clients", f"{client_cpu * 1000 / analyses:.0f} ms")
    _row("analysis worker RSS now / peak", ", ".join(f"{now:.0f} / {peak:.0f} MiB" for now, peak in memory))
    _row(
        "stored per folder: uploads / derived files / database",
        f"{(len(video) + len(photo)) / 1024:.0f} / {stored.derived / 1024:.0f} / {stored.database / 1024:.0f} KiB",
    )
    _row("decisions on the appliance", _decisions([r.document for r in runs]))
    _row("scores on the appliance (first folder)", _scores(runs[0].document["analyses"]))
    _row("scores of the pure compute", _scores(pure.outcomes))


def _run_times(documents: list[dict]) -> str:
    """Median seconds from a worker starting an analysis to its result, per type: beside the
    CPU per analysis, it shows time spent waiting (for another worker's face track, for a core)."""
    seconds: dict[str, list[float]] = {}
    for document in documents:
        for analysis in document["analyses"]:
            elapsed = _epoch(analysis["time_finished"]) - _epoch(analysis["time_started"])
            seconds.setdefault(analysis["type"], []).append(elapsed)
    return ", ".join(f"{kind} {statistics.median(values):.2f} s" for kind, values in sorted(seconds.items()))


def _percentiles(values: list[float]) -> str:
    return f"{np.percentile(values, 50):.2f} / {np.percentile(values, 95):.2f}"


if __name__ == "__main__":
    main()
