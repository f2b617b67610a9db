"""The vision service computes a media's track once: per process (LRU), across services and
processes (files under the media's directory, under a lock), and anew for new model versions."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import msgspec
import numpy as np

from appliance.media import LocalMediaStorage
from appliance.ops.settings import Limits
from appliance.runtime import ModelRuntime, ModelStore
from appliance.runtime.defaults import install_default_models
from appliance.sdk.testing import media_input
from appliance.vision import VisionService
from appliance.vision.cache import LOCK_FILE

ROOT = Path(__file__).resolve().parents[2]


def _files(directory: Path) -> list[Path]:
    return sorted(directory.glob("facetrack-*.npz"))


def test_a_second_request_in_one_process_is_a_memory_hit(runtime: ModelRuntime, samples: dict[str, Path]) -> None:
    service = VisionService(runtime, cache_dir=None)
    media = media_input(samples["mp4"])

    first = service.face_track(media, max_frames=8)
    assert service.face_track(media, max_frames=8) is first
    assert (service.stats.decodes, service.stats.frames, service.stats.embeddings) == (1, 8, 1)
    assert (service.stats.computed, service.stats.memory_hits, service.stats.disk_hits) == (1, 1, 0)
    service.face_track(media, max_frames=4)  # another sampling is another track
    assert service.stats.computed == 2
    service.forget(media.media_id)
    service.face_track(media, max_frames=8)
    assert service.stats.computed == 3


def test_two_services_share_the_track_on_disk(runtime: ModelRuntime, samples: dict[str, Path], tmp_path: Path) -> None:
    media = media_input(samples["mp4"])
    first, second = VisionService(runtime, cache_dir=tmp_path), VisionService(runtime, cache_dir=tmp_path)

    track = first.face_track(media)
    (path,) = _files(tmp_path / media.media_id)
    written = path.stat().st_mtime_ns
    again = second.face_track(media)

    assert (first.stats.decodes, first.stats.embeddings, first.stats.computed) == (1, 1, 1)
    assert (second.stats.decodes, second.stats.embeddings, second.stats.computed, second.stats.disk_hits) == (
        0,
        0,
        0,
        1,
    )
    assert path.stat().st_mtime_ns == written
    assert np.array_equal(again.embedding.vector, track.embedding.vector)
    assert again.to_dict().keys() == track.to_dict().keys() and again.best == track.best


def test_a_damaged_file_is_recomputed(runtime: ModelRuntime, samples: dict[str, Path], tmp_path: Path) -> None:
    media = media_input(samples["jpeg"])
    VisionService(runtime, cache_dir=tmp_path).face_track(media)
    (path,) = _files(tmp_path / media.media_id)
    path.write_bytes(b"garbage")
    service = VisionService(runtime, cache_dir=tmp_path)
    assert service.face_track(media).embedding is not None
    assert service.stats.computed == 1 and path.read_bytes().startswith(b"PK")


def test_threads_asking_at_once_compute_once(runtime: ModelRuntime, samples: dict[str, Path]) -> None:
    service = VisionService(runtime, cache_dir=None)
    media = media_input(samples["jpeg"])
    tracks = []
    threads = [threading.Thread(target=lambda: tracks.append(service.face_track(media))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(tracks) == 4 and all(t is tracks[0] for t in tracks)
    assert (service.stats.computed, service.stats.memory_hits) == (1, 3)


_CHILD = """
import json, sys
from pathlib import Path
from appliance.runtime import ModelRuntime, ModelStore
from appliance.sdk.testing import media_input
from appliance.vision import VisionService

models, media_path, media_id, cache = sys.argv[1:]
service = VisionService(ModelRuntime(ModelStore(models)), cache_dir=Path(cache))
service.models()  # loaded
print("ready", flush=True)
sys.stdin.read()  # both processes are ready: go
track = service.face_track(media_input(media_path, media_id=media_id))
print(json.dumps({**service.stats.as_dict(), "best": track.best, "vector": track.embedding.vector[:4].tolist()}))
"""


def test_two_processes_asking_at_once_compute_once(
    default_models_root: Path, samples: dict[str, Path], tmp_path: Path
) -> None:
    media_id = "6f9619ff-8b86-d011-b42d-00c04fc964ff"
    args = [str(default_models_root), str(samples["mp4"]), media_id, str(tmp_path)]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for child in children:
        assert child.stdout is not None and child.stdout.readline() == "ready\n", child.stderr
    for child in children:  # both go at once
        assert child.stdin is not None
        child.stdin.close()
    outputs = [(child.stdout.read(), child.stderr.read()) for child in children if child.stdout and child.stderr]
    for child in children:
        child.wait(timeout=120)
    assert [child.returncode for child in children] == [0, 0], [err for _, err in outputs]
    stats = [json.loads(out) for out, _ in outputs]

    assert sorted(s["computed"] for s in stats) == [0, 1]
    assert sorted(s["disk_hits"] for s in stats) == [0, 1]
    assert sum(s["decodes"] for s in stats) == 1 and sum(s["embeddings"] for s in stats) == 1
    assert stats[0]["vector"] == stats[1]["vector"] and stats[0]["best"] == stats[1]["best"]
    assert len(_files(tmp_path / media_id)) == 1 and (tmp_path / media_id / LOCK_FILE).exists()


def test_a_new_model_version_gives_a_new_track(samples: dict[str, Path], tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "models")
    install_default_models(store)
    runtime = ModelRuntime(store)
    service = VisionService(runtime, cache_dir=tmp_path / "cache")
    media = media_input(samples["jpeg"])
    before = service.face_track(media)

    card = store.card("facemesh")
    newer = msgspec.structs.replace(card, version=f"{card.version}.post99")
    store.install(newer, {card.main_file.name: store.file_path(card)}, activate=True)
    after = service.face_track(media)

    assert service.stats.computed == 2
    assert before.models["facemesh"] == card.version and after.models["facemesh"] == newer.version
    assert len(_files(tmp_path / "cache" / media.media_id)) == 2


def test_the_track_lives_in_the_media_directory_and_goes_with_it(
    runtime: ModelRuntime, samples: dict[str, Path], tmp_path: Path
) -> None:
    storage = LocalMediaStorage(tmp_path / "media", Limits())
    media = media_input(samples["jpeg"])
    VisionService(runtime, cache_dir=storage.derived_dir).face_track(media)
    assert len(_files(storage.derived_dir(media.media_id))) == 1

    storage.delete_derived(media.media_id)
    assert not storage.derived_dir(media.media_id).exists()


def test_a_media_deleted_while_its_track_is_computed_leaves_no_file(
    runtime: ModelRuntime, astronaut: np.ndarray, tmp_path: Path
) -> None:
    from PIL import Image

    path = tmp_path / "doomed.png"
    Image.fromarray(astronaut).save(path)
    media = media_input(path)
    service = VisionService(runtime, cache_dir=tmp_path / "cache")

    def frames():  # the caller's frames; the media is deleted meanwhile
        path.unlink()
        yield 0, astronaut

    assert service.face_track(media, frames=frames).embedding is not None
    assert service.stats.decodes == 0  # frames handed in are not decoded again
    assert _files(tmp_path / "cache" / media.media_id) == []
