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

With `--half-load`, the same number of folders is then posted at half the saturating rate just
measured, one every interval whatever the earlier ones do (an open loop, as a branch's counters
send them), and their latency printed: what a site sees on a normal day, not at saturation.

With `--pad`, the liveness bundle's models are installed first by packaging/recipes/liveness.py (as
a vendor builds them: every PAD model of the shared data, the Silent-Face .pth weights converted with
the PyTorch of .venv-convert, made by scripts/setup-convert, and the fusion fitted on the shared
labelled media; a few minutes), so the QUALITY analyses run every cue and the fusion too.

With `--embedding`, the same measure is taken a second time in the same run after the face embedding
bundle's preferred model (packaging/recipes/face_embedding.py on the shared data: Open Model Zoo's
face re-identification, converted in .venv-convert) is installed into the running appliance's store,
which switches to it at the next face track; the two are printed side by side with their ratio.

With `--workers 1,2` (any list), an appliance is measured with each number of analysis worker
processes in the same run, and the APM of each is printed against the fewest's: how it grows with
the worker processes (linear growth is a ratio equal to theirs, up to the machine's cores). Beside
each, two bounds from the CPU measured per analysis: the APM if the analysis workers were always
busy, and the APM if the cores were always busy with every process's share (the appliance's and
this bench's clients'); reaching the lower one means the cores, not the software, set the pace.

    .venv/bin/python bench/apm.py [--folders 48] [--concurrency 4] [--workers N[,N...]] [--half-load] [--pad]
                                  [--embedding] [--video bench/selfie720p_5mbps.mp4]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # the pure compute runs on one thread, as a worker does

import argparse
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec
import numpy as np
from appliance_client import Analysis, ApiError, Client, Folder, Upload

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
RECIPE = REPO_ROOT / "packaging" / "recipes" / "liveness.py"
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
    folder: Folder


def post_folder(client: Client, video: bytes, photo: bytes) -> FolderRun:
    media = [Upload(video, VIDEO_TAGS, name="selfie.mp4"), Upload(photo, PHOTO_TAGS, name="id.jpg")]
    started = time.time()
    try:
        folder = client.create_folder(media, analyses=ANALYSES)
    except ApiError as exc:
        raise SystemExit(f"apm: upload refused: {exc}") from None
    answered = time.time()
    if not folder.is_final:
        raise SystemExit(f"apm: folder {folder.folder_id} not final after the single-request timeout")
    return FolderRun(started, answered, folder.time_updated.timestamp(), folder)


def _client(base_url: str, token: str) -> Client:
    return Client(base_url, token=token, timeout=120)


def run_load(base_url: str, token: str, folders: int, concurrency: int, video: bytes, photo: bytes) -> list[FolderRun]:
    """`folders` folders from `concurrency` clients, each posting its next one once the last is resolved."""
    runs: list[FolderRun] = []
    lock = threading.Lock()
    tickets = iter(range(folders))

    def client_loop() -> None:
        with _client(base_url, token) as client:
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
    return _joined(runs, threads, folders)


def run_paced(base_url: str, token: str, folders: int, interval: float, video: bytes, photo: bytes) -> list[FolderRun]:
    """`folders` folders posted one every `interval` seconds whatever the earlier ones do (an open
    loop, as counters at a branch send them), each from a client of its own."""
    runs: list[FolderRun] = []
    lock = threading.Lock()

    def post_one() -> None:
        with _client(base_url, token) as client:
            run = post_folder(client, video, photo)
        with lock:
            runs.append(run)

    threads, start = [], time.monotonic()
    for index in range(folders):
        time.sleep(max(0.0, start + index * interval - time.monotonic()))
        threads.append(threading.Thread(target=post_one))
        threads[-1].start()
    return _joined(runs, threads, folders)


def _joined(runs: list[FolderRun], threads: list[threading.Thread], folders: int) -> list[FolderRun]:
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
    """The liveness bundle's models (every PAD model and the fusion) into the store, active, by the
    recipe; their names."""
    if not TORCH_PYTHON.is_file():
        raise SystemExit(
            f"apm: --pad needs the PyTorch of {TORCH_PYTHON.parent.parent.name}: run scripts/setup-convert"
        )
    for weights in PAD_WEIGHTS:
        shared(weights)
    before = set(ModelStore(models).names())
    command = [sys.executable, str(RECIPE), "--models", str(SHARED_DATA / "models"), "--data", str(SHARED_DATA)]
    done = subprocess.run([*command, "--store", str(models)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["(no message)"])[-1]
        raise SystemExit(f"apm: the liveness recipe failed: {last_line}")
    return sorted(set(ModelStore(models).names()) - before)


def login(base_url: str) -> str:
    with Client(base_url) as client:
        return client.login(ADMIN_EMAIL, ADMIN_PASSWORD).access_token


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


def _decisions(folders: list[Folder]) -> str:
    counts: dict[str, int] = {}
    for folder in folders:
        for analysis in folder.analyses or []:
            key = f"{analysis.type} {analysis.state} {analysis.resolution_status}"
            counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key} x{n}" for key, n in sorted(counts.items()))


def _scores(outcomes: list[Outcome] | list[Analysis]) -> str:
    """QUALITY's confidence_spoofing and BIOMETRY's min_confidence, from outcomes or analysis documents."""
    found = {}
    for item in outcomes:
        data = item.results_data or {}
        if "max_confidence_spoofing" in data:
            found["QUALITY confidence_spoofing"] = data["max_confidence_spoofing"]
        if "min_confidence" in data:
            found["BIOMETRY min_confidence"] = data["min_confidence"]
    return ", ".join(f"{k} {v}" for k, v in found.items())


def _row(label: str, value: str) -> None:
    print(f"  {label:<52} {value}")


@dataclass
class Measured:
    """One measured load on the running appliance, and the pure compute of its models."""

    label: str
    pure: PureCompute
    runs: list[FolderRun]
    cpu: dict[str, float]
    client_cpu: float
    worker_pids: list[int]
    worker_cores: int
    load: tuple[float, float]
    memory: list[tuple[float, float]]
    stored: StoredBytes
    #: with --half-load: folders posted at half the saturating rate, after the saturating load
    half_load: list[FolderRun] | None

    @property
    def apm(self) -> float:
        return apm_of(self.runs)

    def bounds(self, workers: int) -> tuple[float, float]:
        """Two ceilings of the APM from the CPU measured per analysis: `workers` analysis workers
        always busy, and the cores always busy with every process's share (the appliance's and this
        bench's clients'). Reaching the lower one means the cores, not the software, set the pace."""
        analyses = len(ANALYSES) * len(self.runs)
        worker_seconds = self.cpu["worker-analysis"] / analyses
        every_seconds = (sum(self.cpu.values()) + self.client_cpu) / analyses
        return workers * 60 / worker_seconds, self.worker_cores * 60 / every_seconds


def apm_of(runs: list[FolderRun]) -> float:
    wall = max(r.resolved for r in runs) - min(r.started for r in runs)
    return len(ANALYSES) * len(runs) * 60 / wall


def half_load_interval(saturating_apm: float) -> float:
    """Seconds between folders that ask for half the saturating APM (each folder is len(ANALYSES) analyses)."""
    return 60 * len(ANALYSES) / (saturating_apm / 2)


def measure(
    label: str,
    process: subprocess.Popen,
    base_url: str,
    data_dir: Path,
    args: argparse.Namespace,
    sizes: tuple[int, int],
) -> Measured:
    """The pure compute of the store's active models, then `args.folders` folders through the
    appliance after a warm-up that makes every worker load them."""
    workers, concurrency = sizes
    video_path, photo_path = shared(args.video), shared(PHOTO)
    video, photo = video_path.read_bytes(), photo_path.read_bytes()
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
    # the processes that ran analyses: the consumer's children, or the consumer itself when it runs
    # its one worker in a thread (Huey's scheduler process, a child too, stays idle)
    grown = {pid: cpu_seconds([pid]) - before for pid, before in per_pid.items()}
    worker_pids = [pid for pid, seconds in grown.items() if seconds > 0.2 * max(grown.values())]
    half_load = None
    if args.half_load:
        interval = half_load_interval(apm_of(runs))
        half_load = run_paced(base_url, token, args.folders, interval, video, photo)
    return Measured(
        label=label,
        pure=pure,
        runs=runs,
        cpu=cpu,
        client_cpu=client_cpu,
        worker_pids=worker_pids,
        worker_cores=len(os.sched_getaffinity(worker_pids[0])),
        load=(load_before, os.getloadavg()[0]),
        memory=[memory_mib(pid) for pid in worker_pids],
        stored=StoredBytes.of(data_dir, folders=args.folders + 2 * workers),
        half_load=half_load,
    )


def install_embedding_models(models: Path) -> str:
    """The face embedding bundle's models (packaging/recipes/face_embedding.py on the shared data),
    active: the running appliance switches to the preferred one at its next face track. Its name."""
    from tests.support.recipes import OMZ_EMBEDDING_FILES, load_recipe

    recipe = load_recipe("face_embedding")
    files = [shared(f"models/{name}") for name in OMZ_EMBEDDING_FILES]
    with tempfile.TemporaryDirectory(prefix="apm-embedding-") as workdir:
        calibrated = recipe.prepare(files, SHARED_DATA / "faces", Path(workdir))
        recipe.install(calibrated, models)
    return next(c.card.name for c in calibrated if c.card.task == "face_embedding")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folders", type=int, default=48, help="folders measured (2 analyses each)")
    parser.add_argument("--concurrency", type=int, default=0, help="clients (default: 2 per worker)")
    parser.add_argument(
        "--workers",
        default="",
        help="analysis worker processes (default: usable cores); several, as 1,2, measure each in the same run",
    )
    parser.add_argument("--pure-repeat", type=int, default=10, help="mixes timed for the pure compute")
    parser.add_argument("--pad", action="store_true", help="install and run the MiniFASNet PAD models")
    parser.add_argument(
        "--embedding",
        action="store_true",
        help="measure again after installing the face embedding bundle's model, in the same run, and compare",
    )
    parser.add_argument(
        "--half-load",
        action="store_true",
        help="then post as many folders at half the saturating rate, one at a time, and print their latency",
    )
    parser.add_argument("--video", default=VIDEO, help=f"the selfie video, in the shared data (default {VIDEO})")
    args = parser.parse_args()
    worker_counts = [int(w) for w in args.workers.split(",")] if args.workers else [len(os.sched_getaffinity(0))]
    video_path, photo_path = shared(args.video), shared(PHOTO)
    uploads = len(video_path.read_bytes()) + len(photo_path.read_bytes())
    by_workers = {workers: measure_appliance(args, workers) for workers in worker_counts}

    print(f"standard mix: QUALITY + BIOMETRY of {video_path.name} against {photo_path.name}")
    for workers, measured in by_workers.items():
        for item in measured:
            report(item, args.folders, args.concurrency or 2 * workers, workers, uploads)
        if len(measured) == 2:
            compare_models(*measured)
    if len(by_workers) > 1:
        compare_workers({workers: measured[0] for workers, measured in by_workers.items()})


def measure_appliance(args: argparse.Namespace, workers: int) -> list[Measured]:
    """One appliance with `workers` analysis worker processes, measured with the default models (or
    the PAD models), then with the embedding bundle's model when asked."""
    concurrency = args.concurrency or 2 * workers
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="appliance-apm-") as tmp:
        data_dir = Path(tmp)
        process = start_appliance(data_dir, port, analysis_workers=workers)
        try:
            pad_models = install_pad_models(data_dir / "models") if args.pad else []
            models = f"PAD models {', '.join(pad_models)}" if pad_models else "default models (no PAD model)"
            measured = [measure(models, process, base_url, data_dir, args, (workers, concurrency))]
            if args.embedding:
                name = install_embedding_models(data_dir / "models")
                label = f"{models}, embedding model {name}"
                measured.append(measure(label, process, base_url, data_dir, args, (workers, concurrency)))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
    return measured


def compare_models(base: Measured, new: Measured) -> None:
    print(f"\n{new.label} against {base.label}, in the same run:")
    _row(
        "APM per core",
        f"{new.apm / new.worker_cores:.0f} / {base.apm / base.worker_cores:.0f} = {new.apm / base.apm:.2f}x",
    )
    base_pure, new_pure = statistics.median(base.pure.cpu_ms), statistics.median(new.pure.cpu_ms)
    _row("pure compute per mix", f"{new_pure:.0f} / {base_pure:.0f} ms = {base_pure / new_pure:.2f}x the APM")


def compare_workers(by_workers: dict[int, Measured]) -> None:
    """APM against the fewest worker processes measured, in the same run: how it grows with them."""
    fewest = min(by_workers)
    print(f"\nAPM by analysis worker processes, in the same run, against {fewest}:")
    for workers, measured in sorted(by_workers.items()):
        ratio = measured.apm / by_workers[fewest].apm
        busy_workers, busy_cores = measured.bounds(workers)
        _row(
            f"{workers} worker processes",
            f"{measured.apm:.0f} APM = {ratio:.2f}x ({ratio / (workers / fewest):.0%} of linear); "
            f"bounds: workers always busy {busy_workers:.0f}, cores always busy {busy_cores:.0f} "
            f"({measured.apm / min(busy_workers, busy_cores):.0%} of the lower reached)",
        )


def report(measured: Measured, folders: int, concurrency: int, workers: int, uploads: int) -> None:
    runs, cpu, pure = measured.runs, measured.cpu, measured.pure
    analyses = len(ANALYSES) * len(runs)
    wall = max(r.resolved for r in runs) - min(r.started for r in runs)
    latency = [r.resolved - r.started for r in runs]
    answered = [r.answered - r.started for r in runs]
    pure_ms = statistics.median(pure.cpu_ms) / len(ANALYSES)
    worker_ms = cpu["worker-analysis"] * 1000 / analyses
    print(f"\n{measured.label}")
    print(
        f"{folders} folders ({analyses} analyses), {concurrency} clients, {workers} analysis worker processes "
        f"on {measured.worker_cores} cores; load average {measured.load[0]:.2f} before, {measured.load[1]:.2f} after\n"
    )
    _row("APM (analyses per minute)", f"{measured.apm:.0f}")
    _row("APM per core", f"{measured.apm / measured.worker_cores:.0f}")
    _row("latency upload -> resolution p50 / p95", f"{_percentiles(latency)} s")
    _row("single-request answer p50 / p95", f"{_percentiles(answered)} s")
    if measured.half_load:
        paced = measured.half_load
        interval = half_load_interval(measured.apm)
        _row(
            f"at half load (a folder every {interval:.2f} s, {apm_of(paced):.0f} APM reached)",
            f"latency p50 / p95 {_percentiles([r.resolved - r.started for r in paced])} s",
        )
    _row("analysis run time p50 (started -> finished)", _run_times([r.folder for r in runs]))
    _row("analysis workers' CPU per analysis", f"{worker_ms:.0f} ms")
    busy = cpu["worker-analysis"] / (len(measured.worker_pids) * wall)
    _row("analysis workers busy (CPU / their wall time)", f"{busy:.0%}")
    _row(
        "pure compute per analysis (CPU, one thread)",
        f"{pure_ms:.0f} ms (wall {statistics.median(pure.wall_ms) / len(ANALYSES):.0f} ms; "
        f"{60_000 / pure_ms:.0f} APM per core)",
    )
    _row("analysis workers' CPU / pure compute", f"{worker_ms / pure_ms:.2f}x")
    _row("the API's CPU per analysis / the analysis workers'", f"{cpu['api'] / cpu['worker-analysis']:.1%}")
    _row(
        "CPU per analysis, every process of the appliance",
        f"{sum(cpu.values()) * 1000 / analyses:.0f} ms: "
        + ", ".join(f"{name} {seconds * 1000 / analyses:.0f}" for name, seconds in sorted(cpu.items())),
    )
    _row("CPU per analysis of this benchmark's clients", f"{measured.client_cpu * 1000 / analyses:.0f} ms")
    _row("analysis worker RSS now / peak", ", ".join(f"{now:.0f} / {peak:.0f} MiB" for now, peak in measured.memory))
    _row(
        "stored per folder: uploads / derived files / database",
        f"{uploads / 1024:.0f} / {measured.stored.derived / 1024:.0f} / {measured.stored.database / 1024:.0f} KiB",
    )
    _row("decisions on the appliance", _decisions([r.folder for r in runs]))
    _row("scores on the appliance (first folder)", _scores(runs[0].folder.analyses or []))
    _row("scores of the pure compute", _scores(pure.outcomes))


def _run_times(folders: list[Folder]) -> str:
    """Median seconds from a worker starting an analysis to its result, per type: beside the
    CPU per analysis, it shows time spent waiting (for another worker's face track, for a core)."""
    seconds: dict[str, list[float]] = {}
    for folder in folders:
        for analysis in folder.analyses or []:
            if analysis.time_started and analysis.time_finished:
                elapsed = (analysis.time_finished - analysis.time_started).total_seconds()
                seconds.setdefault(analysis.type, []).append(elapsed)
    return ", ".join(f"{kind} {statistics.median(values):.2f} s" for kind, values in sorted(seconds.items()))


def _percentiles(values: list[float]) -> str:
    return f"{np.percentile(values, 50):.2f} / {np.percentile(values, 95):.2f}"


if __name__ == "__main__":
    main()
