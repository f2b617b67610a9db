"""The gallery index: exact and approximate search agree, versions are built once and atomically,
and what a newer version or a deletion made obsolete leaves the disk."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import numpy as np
import pytest
from appliance_plugin_blacklist.index import (
    ApproximateGallery,
    ExactGallery,
    GalleryFiles,
    build_gallery,
    load_gallery,
)

DIMENSIONS = 128


def templates(count: int, seed: int = 0) -> np.ndarray:
    """Normalised 128-d vectors whose variance decays over the dimensions, as face embeddings' does."""
    rng = np.random.default_rng(seed)
    vectors = rng.standard_normal((count, DIMENSIONS)).astype(np.float32) * np.exp(-np.arange(DIMENSIONS) / 24)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def probes_near(gallery: np.ndarray, count: int, seed: int = 1) -> np.ndarray:
    """Other 'photos' of enrolled persons: an enrolled template moved by noise."""
    rng = np.random.default_rng(seed)
    picked = gallery[rng.integers(0, len(gallery), count)]
    moved = picked + 0.3 * templates(count, seed + 1)
    return moved / np.linalg.norm(moved, axis=1, keepdims=True)


def test_exact_search_is_brute_force(tmp_path: Path) -> None:
    vectors = templates(500)
    keys = np.arange(1000, 1500)
    build_gallery(tmp_path / "v1", keys, vectors, approximate_from=10_000)
    gallery = load_gallery(tmp_path / "v1")
    assert isinstance(gallery, ExactGallery) and gallery.size == 500
    probe = probes_near(vectors, 1)[0]
    found = gallery.search(probe, 5)
    distances = np.linalg.norm(vectors - probe, axis=1)
    expected = np.argsort(distances)[:5]
    assert [n.key for n in found] == [int(keys[i]) for i in expected]
    assert [n.distance for n in found] == pytest.approx(distances[expected].tolist(), abs=1e-5)
    assert gallery.search(probe, 0) == [] and len(gallery.search(probe, 10_000)) == 500


def test_approximate_search_finds_what_exact_search_finds(tmp_path: Path) -> None:
    vectors, keys = templates(5000), np.arange(5000) + 7
    build_gallery(tmp_path / "exact", keys, vectors, approximate_from=10**9)
    build_gallery(tmp_path / "hnsw", keys, vectors, approximate_from=1000)
    exact, approximate = load_gallery(tmp_path / "exact"), load_gallery(tmp_path / "hnsw")
    assert isinstance(approximate, ApproximateGallery) and (tmp_path / "hnsw" / "hnsw.usearch").is_file()
    found = total = 0
    for probe in probes_near(vectors, 100):
        truth = exact.search(probe, 10)
        candidates = approximate.search(probe, 10)
        # the enrolled person itself: always found, at its exact distance
        assert candidates[0].key == truth[0].key and candidates[0].distance == pytest.approx(
            truth[0].distance, abs=1e-5
        )
        assert [n.distance for n in candidates] == sorted(n.distance for n in candidates)
        found += len({n.key for n in truth} & {n.key for n in candidates})
        total += len(truth)
    assert found / total >= 0.98


def test_an_empty_gallery_finds_nothing(tmp_path: Path) -> None:
    build_gallery(tmp_path / "v0", np.zeros(0, np.int64), np.zeros((0, DIMENSIONS), np.float32), 1000)
    assert load_gallery(tmp_path / "v0").search(templates(1)[0], 10) == []


def test_a_failed_build_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build_gallery(tmp_path / "v1", np.arange(3), templates(4), 1000)  # 4 vectors for 3 keys
    assert list(tmp_path.iterdir()) == []


class _Rows:
    """A gallery's rows, counting how often they are read."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors = vectors
        self.reads = 0

    def __call__(self) -> tuple[np.ndarray, np.ndarray]:
        self.reads += 1
        return np.arange(len(self.vectors)), self.vectors


def test_a_version_is_built_once_and_replaces_the_older_ones(tmp_path: Path) -> None:
    files = GalleryFiles(tmp_path)
    rows = _Rows(templates(50))
    first = files.gallery("c1", "space", 1, rows, current_version=lambda: 1)
    assert files.gallery("c1", "space", 1, rows, current_version=lambda: 1) is first
    assert GalleryFiles(tmp_path).gallery("c1", "space", 1, rows, current_version=lambda: 1).size == 50  # from disk
    assert rows.reads == 1
    rows.vectors = templates(60)
    assert files.gallery("c1", "space", 2, rows, current_version=lambda: 2).size == 60
    assert rows.reads == 2
    assert sorted(p.name for p in (tmp_path / "c1" / "space").glob("v*")) == ["v2"]


def test_files_a_newer_change_made_obsolete_are_removed_at_once(tmp_path: Path) -> None:
    """A person deleted while the index was being built must not stay in a file on disk."""
    files = GalleryFiles(tmp_path)
    files.gallery("c1", "space", 3, _Rows(templates(20)), current_version=lambda: 4)
    assert not list((tmp_path / "c1" / "space").glob("v*"))
    files.gallery("c2", "space", 1, _Rows(templates(20)), current_version=lambda: None)  # collection deleted
    assert not (tmp_path / "c2").exists()


def test_prune_removes_older_versions_or_the_whole_collection(tmp_path: Path) -> None:
    files = GalleryFiles(tmp_path)
    for space in ("a", "b"):
        files.gallery("c1", space, 1, _Rows(templates(10)), current_version=lambda: 1)
    files.prune("c1", 2)
    assert (tmp_path / "c1").is_dir() and not list((tmp_path / "c1").glob("*/v*"))
    files.gallery("c1", "a", 2, _Rows(templates(10)), current_version=lambda: 2)
    files.prune("c1", None)
    assert not (tmp_path / "c1").exists()


def _build_in_process(root: str, log: str) -> None:
    def rows() -> tuple[np.ndarray, np.ndarray]:
        with open(log, "a") as out:
            out.write("read\n")
        time.sleep(0.5)  # long enough for the other process to reach the lock
        return np.arange(30), templates(30)

    GalleryFiles(Path(root)).gallery("c1", "space", 1, rows, current_version=lambda: 1)


def test_concurrent_processes_build_a_version_once(tmp_path: Path) -> None:
    log = tmp_path / "reads.log"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_build_in_process, args=(str(tmp_path / "index"), str(log))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert log.read_text() == "read\n"
    assert load_gallery(tmp_path / "index" / "c1" / "space" / "v1").size == 30
