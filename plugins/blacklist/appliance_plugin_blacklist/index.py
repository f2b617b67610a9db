"""Nearest enrolled faces of a probe: exact search for small galleries, an HNSW index for large ones.

A gallery is the embeddings of one collection in one embedding space (embeddings of different
spaces are never compared). Its search files live on disk in one directory per collection
version, `<root>/<collection_id>/<space>/v<version>/`:

- `keys.npy`: the `search_key` of each embedding (int64), row by row;
- `vectors.npy`: the embeddings (float32, one row each): exact search, and exact distances for
  what the index finds;
- `hnsw.usearch`: from `APPROXIMATE_FROM` embeddings on, a usearch HNSW index over the rows
  (L2, bf16 vectors, its keys are row numbers), opened as a memory-mapped view.

A version directory is written once, under a file lock (one builder per gallery among every
process and host sharing the storage), into a temporary directory that is fsynced and renamed
into place, so a reader sees a whole version or none. A newer version makes the older ones
obsolete: they are removed after the new one is in place, and by the deletion of a person
(`prune`), so that a deleted face does not outlive its row in a file.

usearch (Unum, Apache-2.0) was chosen over hnswlib and faiss: it is maintained (monthly
releases), ships prebuilt wheels for CPython 3.11+ on x86-64 and ARM64 with no BLAS, saves an
index to one file and serves it memory-mapped (`view`), so several worker processes share one
copy in the page cache, and quantises vectors to bf16 (half the memory, faster distances) while
the exact distances come from `vectors.npy`. hnswlib has had no release since 2023; faiss-cpu
is larger and needs a BLAS.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from usearch.index import Index

__all__ = [
    "APPROXIMATE_FROM",
    "ApproximateGallery",
    "ExactGallery",
    "Gallery",
    "GalleryFiles",
    "Neighbour",
    "build_gallery",
    "load_gallery",
]

#: Galleries of at least this many embeddings are searched through the HNSW index; smaller ones
#: exactly (a few milliseconds, bench/search.py).
APPROXIMATE_FROM = 20_000
#: HNSW parameters (bench/search.py measures what they give): neighbours per node, candidates kept
#: while inserting, and while searching (at least this many, and at least the candidates asked for).
CONNECTIVITY = 16
EXPANSION_ADD = 128
EXPANSION_SEARCH = 512  # 1M templates: recall@10 0.99+, p95 about 3 ms (bench/search.py)
INDEX_DTYPE = "bf16"
#: The index ranks in bf16; this many candidates per result asked for are re-ranked exactly, so that
#: near ties the rounding swapped still come out in their true order.
RERANKED_PER_RESULT = 4

_KEYS, _VECTORS, _HNSW = "keys.npy", "vectors.npy", "hnsw.usearch"


@dataclass(frozen=True, slots=True)
class Neighbour:
    """An enrolled embedding found near the probe: its `search_key` and its exact L2 distance."""

    key: int
    distance: float


class Gallery(Protocol):
    size: int

    def search(self, probe: np.ndarray, count: int) -> list[Neighbour]:
        """The `count` embeddings nearest to `probe` (fewer if the gallery is smaller), nearest first."""


class ExactGallery:
    """Every embedding compared with the probe: exact, linear in the gallery size."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        self.keys = keys
        self.vectors = vectors
        self.size = len(keys)
        self._norms = np.einsum("ij,ij->i", vectors, vectors)

    def search(self, probe: np.ndarray, count: int) -> list[Neighbour]:
        if self.size == 0 or count <= 0:
            return []
        probe = np.asarray(probe, np.float32)
        squared = self._norms - 2.0 * (self.vectors @ probe) + float(probe @ probe)
        count = min(count, self.size)
        nearest = np.argpartition(squared, count - 1)[:count]
        nearest = nearest[np.argsort(squared[nearest])]
        return [Neighbour(int(self.keys[i]), float(np.sqrt(max(squared[i], 0.0)))) for i in nearest]


class ApproximateGallery:
    """An HNSW index finds candidates; their exact distances, from the vectors, rank them."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray, index: Index) -> None:
        self.keys = keys
        self.vectors = vectors
        self.index = index
        self.size = len(keys)
        #: Candidates kept while searching: more finds more of the true neighbours, more slowly.
        self.expansion_search = EXPANSION_SEARCH

    def search(self, probe: np.ndarray, count: int) -> list[Neighbour]:
        if self.size == 0 or count <= 0:
            return []
        probe = np.asarray(probe, np.float32)
        candidates = min(RERANKED_PER_RESULT * count, self.size)
        # usearch sets it (its type annotations declare the property without its setter)
        self.index.expansion_search = max(self.expansion_search, candidates)  # type: ignore[misc]
        rows = np.sort(np.asarray(self.index.search(probe, candidates).keys, np.int64))
        distances = np.linalg.norm(np.asarray(self.vectors[rows]) - probe, axis=1)
        nearest = np.argsort(distances)[:count]
        return [Neighbour(int(self.keys[rows[i]]), float(distances[i])) for i in nearest]


def new_index(dimensions: int) -> Index:
    return Index(
        ndim=dimensions,
        metric="l2sq",
        dtype=INDEX_DTYPE,
        connectivity=CONNECTIVITY,
        expansion_add=EXPANSION_ADD,
        expansion_search=EXPANSION_SEARCH,
    )


def build_gallery(directory: Path, keys: np.ndarray, vectors: np.ndarray, approximate_from: int) -> None:
    """Write the search files of `keys` and `vectors` as `directory` (which must not exist):
    into a temporary sibling first, fsynced, then renamed, so `directory` appears whole or not at all."""
    keys = np.ascontiguousarray(keys, np.int64)
    vectors = np.ascontiguousarray(vectors, np.float32).reshape(len(keys), -1 if len(keys) else 0)
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = directory.parent / f".building-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        np.save(staging / _KEYS, keys)
        np.save(staging / _VECTORS, vectors)
        if len(keys) >= approximate_from:
            index = new_index(vectors.shape[1])
            # one thread: built concurrently, the graph occasionally had regions a search could not
            # leave (a 5,000 gallery missed the nearest face in about 1 of 45 builds on 2 threads,
            # still 1 of 60 with the first 2,000 added alone; 0 of 180 on one thread). A blacklist
            # must find the enrolled face, so the build takes longer instead (docs/collections.md).
            index.add(np.arange(len(keys), dtype=np.uint64), vectors, threads=1)
            index.save(str(staging / _HNSW))
        for item in staging.iterdir():
            _fsync(item)
        _fsync(staging)
        os.rename(staging, directory)
        _fsync(directory.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def load_gallery(directory: Path) -> Gallery:
    """The gallery `build_gallery` wrote in `directory` (the vectors and the index memory-mapped)."""
    keys = np.load(directory / _KEYS)
    vectors = np.load(directory / _VECTORS, mmap_mode="r")
    if (directory / _HNSW).is_file():
        index = Index.restore(str(directory / _HNSW), view=True)
        if index is None:
            raise RuntimeError(f"the search index in {directory} cannot be read")
        return ApproximateGallery(keys, vectors, index)
    return ExactGallery(keys, np.asarray(vectors))


@dataclass(frozen=True, slots=True)
class _Loaded:
    version: int
    gallery: Gallery


#: Reads a gallery's rows: (search keys, embeddings) of one collection in one space.
RowSource = Callable[[], tuple[np.ndarray, np.ndarray]]


class GalleryFiles:
    """The galleries of every collection under `root`, and those this process has loaded.

    `gallery(...)` gives the gallery of a collection version: from memory when this process loaded
    that version already, from disk when another process built it, built from the rows otherwise.
    """

    def __init__(self, root: Path, approximate_from: int = APPROXIMATE_FROM) -> None:
        self.root = root
        self.approximate_from = approximate_from
        self._loaded: dict[tuple[str, str], _Loaded] = {}
        self._lock = threading.Lock()

    def gallery(
        self,
        collection_id: str,
        space: str,
        version: int,
        rows: RowSource,
        current_version: Callable[[], int | None],
    ) -> Gallery:
        """The gallery of `collection_id` in `space` at `version`. `rows` reads its embeddings when it
        must be built; `current_version` reads the collection's version afterwards, so that files a
        concurrent change made obsolete are removed at once (None: the collection is gone)."""
        key = (collection_id, space)
        with self._lock:
            loaded = self._loaded.get(key)
            if loaded is not None and loaded.version == version:
                return loaded.gallery
            directory = self._space_dir(collection_id, space) / f"v{version}"
            if not directory.is_dir():
                with _file_lock(self._space_dir(collection_id, space) / ".lock"):
                    if not directory.is_dir():
                        keys, vectors = rows()
                        build_gallery(directory, keys, vectors, self.approximate_from)
                        self._remove_versions(collection_id, below=version)
            gallery = load_gallery(directory)
            self._loaded[key] = _Loaded(version, gallery)
        latest = current_version()
        if latest is None or latest > version:
            self.prune(collection_id, latest)
        return gallery

    def prune(self, collection_id: str, version: int | None) -> None:
        """Remove the files of versions older than `version` (of every version when None: the
        collection is gone), in every space. Processes that loaded them keep what they mapped."""
        if version is None:
            _remove_tree(self.root / collection_id)
            return
        self._remove_versions(collection_id, below=version)

    def _remove_versions(self, collection_id: str, *, below: int) -> None:
        collection_dir = self.root / collection_id
        if not collection_dir.is_dir():
            return
        for directory in collection_dir.glob("*/v*"):
            if directory.name[1:].isdigit() and int(directory.name[1:]) < below:
                _remove_tree(directory)

    def _space_dir(self, collection_id: str, space: str) -> Path:
        return self.root / collection_id / space


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `path` among processes (and hosts, where the filesystem supports it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_tree(directory: Path) -> None:
    """Remove `directory`: renamed aside first, so that no reader finds it half-deleted."""
    trash = directory.parent / f".removing-{uuid.uuid4().hex}"
    try:
        os.rename(directory, trash)
    except FileNotFoundError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
