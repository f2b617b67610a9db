"""The soak of issue 18: folders uploaded to a real appliance while its analysis workers are
killed at random moments (some right after the queue handed a task over) and its API server is
killed and started again once, then counted: stuck, lost, duplicated, orphan files.

Shared by tests/e2e/test_soak.py (about 100 folders in CI) and bench/soak.py (1,000 by default).
The appliance runs with a short lease and a short orphan grace period (`SOAK_SETTINGS`), so that
recovery is a matter of seconds; the analysis is BRIGHTNESS on a small photo, the fastest one
that goes through the queue.

What is counted, from the database, the stored files and the processes' logs:
- stuck: folders (every folder in the database, also one whose upload answer the server's kill
  cut off) not FINISHED or FAILED when the run ends;
- lost: folders a client was answered 201 for that the database does not have, analyses missing
  from their folder, media rows whose stored file is gone, and analyses that ended FAILED (their
  work was not done: the kills must not exhaust the attempts);
- duplicated: analyses whose end was recorded more than once (the workers log every written end)
  and folders resolved to a final status more than once (the resolver logs every change);
- orphan files: stored content files no media row points at and derived directories of media
  that have no row, once the grace period has passed and the sweep has run.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import httpx
import msgspec
from appliance_client import AnalysisIn, ApiError, Client, Upload

from appliance.core.queues import Queues
from appliance.domain.enums import FolderStatus
from appliance.media import LocalMediaStorage
from appliance.ops.settings import load_settings
from appliance.store import FolderFilter, Store, open_store
from tests.support.live import LiveAppliance, child_pids
from tests.support.media_samples import astronaut_rgb, jpeg_bytes

__all__ = [
    "SOAK_SETTINGS",
    "SOAK_WORKERS",
    "SoakCounts",
    "duplicated_ends",
    "run_soak",
    "soak_photos",
    "upload_folder",
]

#: Seconds a file without a row is kept: longer than an upload takes on a loaded machine.
ORPHAN_GRACE = 5.0
#: Settings of the appliance a soak runs (keywords of `running_appliance`): kills may hit one
#: analysis several times without spending its attempts, the single request answers at once.
SOAK_SETTINGS = {
    "QUEUE__LEASE_SECONDS": "2",
    "ANALYSIS__MAX_ATTEMPTS": "20",
    "ANALYSIS__RETRY_DELAY_SECONDS": "0.5",
    "API__SINGLE_REQUEST_TIMEOUT_SECONDS": "0.05",
    "SCHEDULER__ORPHAN_SWEEP_SECONDS": "1",
    "SCHEDULER__ORPHAN_GRACE_SECONDS": f"{ORPHAN_GRACE:g}",
}
SOAK_WORKERS = {"analysis": 2, "resolution": 1, "maintenance": 1, "default": 1, "preview": 1}
CLIENTS = 4
#: Seconds between two kills of analysis workers, drawn uniformly.
KILL_INTERVAL = (1.0, 3.0)
_ENDED = re.compile(r"analysis (\S+) type \S+ attempt \d+ (?:FINISHED|FAILED with)")
_RESOLVED = re.compile(r"folder (\S+) resolved (?:FINISHED|FAILED)/\S+; ")


class SoakCounts(msgspec.Struct, kw_only=True):
    folders: int
    created: int
    analyses_finished: int
    stuck: int
    lost: int
    failed: int
    duplicated: int
    orphan_files: int
    worker_kills: int
    kills_after_dequeue: int
    server_restarts: int
    wall_seconds: float


class _Killer(threading.Thread):
    """Kills the analysis workers until stopped: every few seconds, either one worker process at
    once or every one of them right after the queue hands a task over."""

    def __init__(self, live: LiveAppliance, queues: Queues, rng: random.Random) -> None:
        super().__init__(name="soak-killer", daemon=True)
        self.live, self.queues, self.rng = live, queues, rng
        self.stop = threading.Event()
        self.kills = self.after_dequeue = 0

    def run(self) -> None:
        while not self.stop.wait(self.rng.uniform(*KILL_INTERVAL)):
            if self.rng.random() < 0.5 and self._dequeued():
                self.after_dequeue += 1
                pids = child_pids(self.live.processes["worker-analysis"].pid)
            else:
                pids = child_pids(self.live.processes["worker-analysis"].pid)
                pids = self.rng.sample(pids, 1) if pids else []
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):  # it ended meanwhile: not a kill
                    os.kill(pid, signal.SIGKILL)
                    self.kills += 1

    def _dequeued(self) -> bool:
        """Wait (up to 5 s) until a worker takes a task from the analysis queue; False if none did."""
        pending = self.queues.pending_counts()["analysis"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            now = self.queues.pending_counts()["analysis"]
            if now < pending:
                return True
            pending = now
            time.sleep(0.002)
        return False


def upload_folder(api: Client, photo: bytes, index: int, hold_seconds: float = 0.0) -> str | None:
    """The folder's id, or None when the appliance refused it (the client retried a 429 or 503 already).
    `hold_seconds`: BRIGHTNESS waits that long before it answers (a worker holds the task meanwhile)."""
    media = [Upload(photo, ["photo_selfie"], name=f"{index}.jpg")]
    analysis = AnalysisIn(type="brightness", params={"hold_seconds": hold_seconds}) if hold_seconds else "brightness"
    try:
        folder = api.create_folder(media, analyses=[analysis], folder_meta_data={"soak": index})
    except ApiError:
        return None
    return folder.folder_id


def _upload_all(live: LiveAppliance, token: str, photos: list[bytes], folders: int, created: list[str]) -> None:
    """Upload folders `0..folders-1` from CLIENTS threads; an upload cut off (the server killed)
    is tried again once the server answers."""
    indexes = iter(range(folders))
    lock = threading.Lock()

    def client_loop() -> None:
        with live.api(token, timeout=60) as api:
            while True:
                with lock:
                    index = next(indexes, None)
                if index is None:
                    return
                while True:
                    try:
                        folder_id = upload_folder(api, photos[index % len(photos)], index)
                    except httpx.TransportError:
                        time.sleep(0.2)  # the server is down: try again
                        continue
                    if folder_id is not None:
                        with lock:
                            created.append(folder_id)
                        break
                    time.sleep(0.2)

    threads = [threading.Thread(target=client_loop, name=f"soak-client-{i}") for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _restart_server(live: LiveAppliance, when: threading.Event) -> None:
    when.wait()
    live.processes["api"].send_signal(signal.SIGKILL)
    live.processes["api"].wait()
    live.start_process("api", "serve")
    live.wait_ready()


def duplicated_ends(analysis_logs: Iterable[Path], resolution_logs: Iterable[Path]) -> int:
    """Analyses whose end was written more than once, and folders resolved to a final status more
    than once, counted in the logs of the analysis and resolution workers (of every host)."""
    ended = Counter(e for log in analysis_logs for e in _ENDED.findall(log.read_text(errors="replace")))
    resolved = Counter(r for log in resolution_logs for r in _RESOLVED.findall(log.read_text(errors="replace")))
    return sum(n - 1 for n in ended.values() if n > 1) + sum(n - 1 for n in resolved.values() if n > 1)


def _log_duplicates(live: LiveAppliance) -> int:
    assert live.log_dir is not None
    return duplicated_ends([live.log_dir / "worker-analysis.log"], [live.log_dir / "worker-resolution.log"])


def run_soak(
    live: LiveAppliance, photos: list[bytes], folders: int, *, seed: int = 18, settle_seconds: float = 60.0
) -> SoakCounts:
    """Upload `folders` folders while killing workers and once the server; wait until every folder
    is final (at most `settle_seconds` after the last upload) and the orphan sweep has run; count."""
    rng = random.Random(seed)
    settings = load_settings(live.env)
    queues, store = Queues(settings), open_store(settings.resolved_database_url)
    storage = LocalMediaStorage(settings.storage_path, settings.limits)
    token = live.login()
    created: list[str] = []
    restart_when = threading.Event()
    restarter = threading.Thread(target=_restart_server, args=(live, restart_when), name="soak-restart")
    killer = _Killer(live, queues, rng)
    started = time.monotonic()
    try:
        restarter.start()
        killer.start()
        uploader = threading.Thread(target=_upload_all, args=(live, token, photos, folders, created))
        uploader.start()
        while uploader.is_alive():
            if len(created) >= folders // 3:
                restart_when.set()
            uploader.join(0.1)
        restart_when.set()
        restarter.join()
        deadline = time.monotonic() + settle_seconds
        while time.monotonic() < deadline and _unfinished(store):
            time.sleep(0.5)
        wall = time.monotonic() - started
        killer.stop.set()
        killer.join()
        time.sleep(ORPHAN_GRACE + 2.5)  # the last upload's leftovers pass the grace period; a sweep runs
        all_folders, _ = store.list_folders(FolderFilter(limit=10 * folders + 100))
        analyses = store.list_analyses_of_folders([f.folder_id for f in all_folders])
        media = store.list_media_of_folders([f.folder_id for f in all_folders])
        known = {f.folder_id for f in all_folders}
        stuck = sum(f.resolution_status in (FolderStatus.INITIAL, FolderStatus.PROCESSING) for f in all_folders)
        failed = sum(a.state.value == "FAILED" for items in analyses.values() for a in items)
        missing_files = sum(
            not storage.path_for(m.sha256, m.extension).is_file() for items in media.values() for m in items
        )
        lost = sum(f not in known for f in created) + sum(not analyses[f] for f in known) + missing_files + failed
        rows_sha = {m.sha256 for items in media.values() for m in items}
        rows_ids = {m.media_id for items in media.values() for m in items}
        orphans = sum(path.name.partition(".")[0] not in rows_sha for path in storage.iter_files())
        orphans += sum(media_id not in rows_ids for media_id in storage.derived_older_than(time.time() + 1))
        return SoakCounts(
            folders=folders,
            created=len(all_folders),
            analyses_finished=sum(a.state.value == "FINISHED" for items in analyses.values() for a in items),
            stuck=stuck,
            lost=lost,
            failed=failed,
            duplicated=_log_duplicates(live),
            orphan_files=orphans,
            worker_kills=killer.kills,
            kills_after_dequeue=killer.after_dequeue,
            server_restarts=1,
            wall_seconds=round(wall, 1),
        )
    finally:
        killer.stop.set()
        restart_when.set()
        store.close()


def _unfinished(store: Store) -> bool:
    folders, _ = store.list_folders(FolderFilter(limit=1, statuses=[FolderStatus.INITIAL, FolderStatus.PROCESSING]))
    return bool(folders)


def soak_photos(count: int) -> list[bytes]:
    """`count` distinct small JPEG photos of a face: each folder's content is its own, so that a
    file an upload cut off left behind is no other folder's."""
    face = astronaut_rgb()[::2, ::2]
    photos = []
    for index in range(count):
        rgb = face.copy()
        rgb[:4, :4] = [index % 251, index // 251 % 251, 7]
        photos.append(jpeg_bytes(rgb))
    return photos
