"""1:N search latency and recall of the COLLECTION gallery index, on synthetic 128-d templates.

For each gallery size (10k, 100k, 1M by default) it builds the plugin's own search files
(appliance_plugin_blacklist.index: the same code a collection uses, HNSW forced on every size),
then searches them on one thread and prints, per search breadth (`expansion_search`):

- p50 / p95 milliseconds of one search for the 10 nearest (HNSW candidates + exact re-ranking);
- recall@10 and recall@1 against exact search, for genuine probes (another "photo" of an
  enrolled template) and for impostor probes (templates enrolled nowhere);

and per size the build time, the index file size, the process's peak RSS, and the latency of the
exact search (the one galleries below `APPROXIMATE_FROM` use).

Templates: normalised 128-d vectors whose variance decays over the dimensions (standard deviation
exp(-i/24) before normalising), as the spectrum of real face embeddings concentrates in a few
dozen directions; uniform random vectors in 128 dimensions are a harder, unrealistic case (all
points nearly equidistant). A genuine probe is an enrolled template plus 0.3 times another one,
normalised again: at about the distance of two photos of one person relative to the spread of
the gallery.

    .venv/bin/python bench/search.py [--sizes 10000,100000,1000000] [--queries 300] [--expansions 128,256,512]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "plugins" / "blacklist"))

from appliance_plugin_blacklist.index import (  # noqa: E402
    CONNECTIVITY,
    EXPANSION_ADD,
    EXPANSION_SEARCH,
    INDEX_DTYPE,
    RERANKED_PER_RESULT,
    ApproximateGallery,
    ExactGallery,
    build_gallery,
    load_gallery,
)

DIMENSIONS = 128
NEAREST = 10
EXACT_TIMED_QUERIES = 50


def templates(rng: np.random.Generator, count: int, decay: float) -> np.ndarray:
    scale = np.exp(-np.arange(DIMENSIONS, dtype=np.float32) / decay)
    vectors = np.empty((count, DIMENSIONS), np.float32)
    for start in range(0, count, 100_000):  # in chunks: the float64 draws of 1M rows would take 1 GB
        chunk = rng.standard_normal((min(100_000, count - start), DIMENSIONS)).astype(np.float32) * scale
        vectors[start : start + len(chunk)] = chunk / np.linalg.norm(chunk, axis=1, keepdims=True)
    return vectors


def exact_nearest(gallery: np.ndarray, probes: np.ndarray) -> np.ndarray:
    """Row numbers of the NEAREST gallery templates of each probe, nearest first (batched brute force)."""
    norms = np.einsum("ij,ij->i", gallery, gallery)
    found = np.empty((len(probes), NEAREST), np.int64)
    for start in range(0, len(probes), 64):
        block = probes[start : start + 64]
        squared = norms[None, :] - 2.0 * (block @ gallery.T)
        nearest = np.argpartition(squared, NEAREST - 1, axis=1)[:, :NEAREST]
        order = np.take_along_axis(squared, nearest, axis=1).argsort(axis=1)
        found[start : start + len(block)] = np.take_along_axis(nearest, order, axis=1)
    return found


def timed(search: object, probes: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
    results, latencies = [], []
    for probe in probes:
        started = time.perf_counter()
        neighbours = search.search(probe, NEAREST)  # type: ignore[attr-defined]
        latencies.append((time.perf_counter() - started) * 1000)
        results.append([n.key for n in neighbours])
    return results, np.asarray(latencies)


def recall(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(f[:k]) & set(t[:k].tolist())) for f, t in zip(found, truth, strict=True))
    return hits / (len(found) * k)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_size(size: int, args: argparse.Namespace, workdir: Path) -> None:
    rng = np.random.default_rng(size)
    gallery = templates(rng, size, args.decay)
    keys = np.arange(size, dtype=np.int64)
    enrolled = gallery[rng.integers(0, size, args.queries)]
    genuine = enrolled + 0.3 * templates(rng, args.queries, args.decay)
    probes = {
        "genuine": genuine / np.linalg.norm(genuine, axis=1, keepdims=True),
        "impostor": templates(rng, args.queries, args.decay),
    }
    truth = {name: exact_nearest(gallery, p) for name, p in probes.items()}

    exact = ExactGallery(keys, gallery)
    _, exact_ms = timed(exact, probes["genuine"][:EXACT_TIMED_QUERIES])

    directory = workdir / f"gallery-{size}"
    started = time.perf_counter()
    build_gallery(directory, keys, gallery, approximate_from=0)
    build_seconds = time.perf_counter() - started
    index_mb = (directory / "hnsw.usearch").stat().st_size / 2**20
    del exact, gallery
    approximate = load_gallery(directory)
    assert isinstance(approximate, ApproximateGallery)

    print(
        f"\n{size:>9,} templates: build {build_seconds:6.1f} s, index file {index_mb:6.1f} MB, "
        f"exact search p50 {np.percentile(exact_ms, 50):6.2f} ms p95 {np.percentile(exact_ms, 95):6.2f} ms"
    )
    print("  expansion | p50 ms | p95 ms | genuine recall@10 recall@1 | impostor recall@10 recall@1")
    for expansion in args.expansions:
        approximate.expansion_search = expansion
        found = {name: timed(approximate, p) for name, p in probes.items()}
        latencies = np.concatenate([ms for _, ms in found.values()])
        g, i = found["genuine"][0], found["impostor"][0]
        print(
            f"  {expansion:>9} | {np.percentile(latencies, 50):6.2f} | {np.percentile(latencies, 95):6.2f} | "
            f"{recall(g, truth['genuine'], 10):17.4f} {recall(g, truth['genuine'], 1):8.4f} | "
            f"{recall(i, truth['impostor'], 10):18.4f} {recall(i, truth['impostor'], 1):8.4f}"
        )
    print(f"  peak RSS of this process so far: {peak_rss_mb():.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=300, help="probes of each kind per size")
    parser.add_argument("--expansions", default=f"128,256,{EXPANSION_SEARCH}")
    parser.add_argument("--decay", type=float, default=24.0, help="spectrum decay of the synthetic templates")
    args = parser.parse_args()
    args.expansions = [int(e) for e in args.expansions.split(",")]
    print(
        f"HNSW: connectivity {CONNECTIVITY}, expansion_add {EXPANSION_ADD}, vectors {INDEX_DTYPE}, "
        f"{RERANKED_PER_RESULT} candidates re-ranked exactly per result; {args.queries} genuine + "
        f"{args.queries} impostor probes per size, {NEAREST} nearest, one thread"
    )
    with tempfile.TemporaryDirectory(prefix="bench-search-") as workdir:
        for size in (int(s) for s in args.sizes.split(",")):
            bench_size(size, args, Path(workdir))


if __name__ == "__main__":
    main()
