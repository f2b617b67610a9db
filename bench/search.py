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

Then, where the shared data is (APPLIANCE_TEST_DATA, default ../shared/data), the same per size
with real faces: the default embedding model (dlib's, through the appliance's face pipeline) of
the shared labelled faces; one photo per person enrolled among synthetic distractors drawn from a
Gaussian with the mean and covariance of those real embeddings (so that they lie where real faces
lie, not on a sphere of their own), every other photo of those people searched. It prints the
recall@10 of the index against exact search on those probes, and how often the person's enrolled
photo is the nearest and among the 10 nearest, exact and through the index.

    .venv/bin/python bench/search.py [--sizes 10000,100000,1000000] [--queries 300] [--expansions 128,256,512]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "plugins" / "blacklist"))
sys.path.insert(0, str(REPO_ROOT))

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

from tests.support.shared_data import SHARED_DATA  # noqa: E402

DIMENSIONS = 128
NEAREST = 10
EXACT_TIMED_QUERIES = 50


@dataclass(frozen=True)
class RealFaces:
    """Embeddings of the shared labelled faces: one enrolled photo per person, the others as probes."""

    enrolled: np.ndarray  # one row per person
    probes: np.ndarray
    probe_person: np.ndarray  # the row of `enrolled` each probe is a photo of
    photos_without_face: int


def real_faces(data: Path, workdir: Path) -> RealFaces:
    """The default embedding model's vectors of data/faces/<person>/*, through the appliance's face pipeline."""
    from appliance.domain.enums import MediaKind
    from appliance.runtime import ModelRuntime, ModelStore
    from appliance.runtime.defaults import install_default_models
    from appliance.sdk.types import MediaInput
    from appliance.vision import VisionService
    from tests.support.recipes import load_recipe

    store = ModelStore(workdir / "store")
    install_default_models(store)
    vision = VisionService(ModelRuntime(store), cache_dir=None)
    by_person: dict[str, list[np.ndarray]] = {}
    without_face = 0
    for path, person in load_recipe("face_embedding").labelled_faces(data / "faces").items():
        media = MediaInput(media_id=str(path), kind=MediaKind.IMAGE, tags=(), path=path, mime_type="image/jpeg")
        track = vision.face_track(media)
        vision.forget(str(path))
        if track.embedding is None:
            without_face += 1
            continue
        by_person.setdefault(person, []).append(np.asarray(track.embedding.vector, np.float32))
    people = [vectors for vectors in by_person.values() if len(vectors) > 1]
    probes = [(row, vector) for row, vectors in enumerate(people) for vector in vectors[1:]]
    return RealFaces(
        enrolled=np.stack([vectors[0] for vectors in people]),
        probes=np.stack([vector for _, vector in probes]),
        probe_person=np.asarray([row for row, _ in probes]),
        photos_without_face=without_face,
    )


def distractors_like(faces: RealFaces, rng: np.random.Generator, count: int) -> np.ndarray:
    """`count` vectors from a Gaussian with the mean and covariance of the real embeddings."""
    every = np.concatenate([faces.enrolled, faces.probes])
    return rng.multivariate_normal(every.mean(axis=0), np.cov(every, rowvar=False), count).astype(np.float32)


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


def bench_real_faces(size: int, faces: RealFaces, expansions: list[int], workdir: Path) -> None:
    """Real probes among `size` distractors like them: the index against exact search, and the person found."""
    rng = np.random.default_rng(size + 1)
    people = len(faces.enrolled)
    gallery = np.concatenate([faces.enrolled, distractors_like(faces, rng, size - people)])
    keys = np.arange(len(gallery), dtype=np.int64)  # rows below `people` are the enrolled persons
    truth = exact_nearest(gallery, faces.probes)
    directory = workdir / f"real-{size}"
    build_gallery(directory, keys, gallery, approximate_from=0)
    approximate = load_gallery(directory)
    assert isinstance(approximate, ApproximateGallery)

    def found_rate(nearest: list[list[int]] | np.ndarray, k: int) -> float:
        hits = [person in list(row[:k]) for row, person in zip(nearest, faces.probe_person, strict=True)]
        return float(np.mean(hits))

    print(
        f"\n{size:>9,} real faces among distractors: {people} persons enrolled, {len(faces.probes)} probes; "
        f"exact search finds the person first {found_rate(truth, 1):.3f}, in the 10 nearest {found_rate(truth, 10):.3f}"
    )
    print("  expansion | p50 ms | p95 ms | recall@10 against exact | person first | person in 10 nearest")
    for expansion in expansions:
        approximate.expansion_search = expansion
        found, ms = timed(approximate, faces.probes)
        print(
            f"  {expansion:>9} | {np.percentile(ms, 50):6.2f} | {np.percentile(ms, 95):6.2f} | "
            f"{recall(found, truth, 10):23.4f} | {found_rate(found, 1):12.3f} | {found_rate(found, 10):20.3f}"
        )


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
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="bench-search-") as workdir:
        for size in sizes:
            bench_size(size, args, Path(workdir))
        if not (SHARED_DATA / "faces").is_dir():
            print(f"\nreal faces left out: no labelled faces in {SHARED_DATA} (set APPLIANCE_TEST_DATA)")
            return
        faces = real_faces(SHARED_DATA, Path(workdir))
        print(f"\nreal faces: {faces.photos_without_face} shared photos without a face found are left out")
        for size in sizes:
            bench_real_faces(size, faces, args.expansions, Path(workdir))


if __name__ == "__main__":
    main()
