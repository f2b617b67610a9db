"""Re-enrolment of a collection after an embedding model change: how long 10,000 templates take.

A collection of `--templates` photos enrolled in dlib's space (rows written directly, each naming one
of the shared face photos, stored once each in the plugin's files) is re-enrolled into the space of
the vendor bundle's model (omz-face-reid-0095, built by packaging/recipes/face_embedding.py from the
shared data) by the blacklist plugin's background work, in this process, on one core, one thread: what
one maintenance worker does. Each photo is decoded, its face detected, its landmarks found and the
new model run, as at enrolment; nothing is cached between photos. Prints the total, photos per
second, milliseconds per photo (p50 / p95 over steps of `STEP` photos; the photos that give no usable
face, which enrolment would have refused, count as failed) and what the scheduler's default cadence
(a run of `plugin_work_budget_seconds` every `plugin_work_seconds`) makes of it.

    .venv/bin/python bench/reenrolment.py [--templates 10000] [--database-url postgresql://...]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.recipes import OMZ_EMBEDDING_FILES, load_recipe  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("APPLIANCE_TEST_DATA") or str(REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--templates", type=int, default=10_000)
    parser.add_argument("--database-url", default="", help="default: SQLite in a temporary directory")
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="the core to run on")
    args = parser.parse_args()
    os.sched_setaffinity(0, {args.cpu})

    import appliance_plugin_blacklist
    from appliance_plugin_blacklist.reenrolment import STEP, Reenrolment
    from appliance_plugin_blacklist.repository import CollectionRepository, FileRef, NewImage

    from appliance.ops.settings import SchedulerSettings
    from appliance.runtime import ModelStore
    from appliance.runtime.defaults import install_default_models
    from appliance.sdk.testing import PluginTestBed

    recipe = load_recipe("face_embedding")
    people = recipe.labelled_faces(args.data / "faces")
    with tempfile.TemporaryDirectory(prefix="reenrolment-") as tmp:
        workdir = Path(tmp)
        store = ModelStore(workdir / "models")
        install_default_models(store)
        files = [args.data / "models" / name for name in OMZ_EMBEDDING_FILES]
        calibrated = recipe.prepare(files, args.data / "faces", workdir / "recipe")
        bed = PluginTestBed(
            appliance_plugin_blacklist, workdir / "site", models=store.root, database_url=args.database_url
        )
        try:
            services = bed.services
            repository = CollectionRepository(services.db)
            collection = repository.create_collection(bed.create_company(), "sizing", {})
            stored = []
            for photo in people:
                with photo.open("rb") as fh:
                    item = services.files.ingest(fh, photo.name)
                stored.append((FileRef(item.sha256, item.extension), item.probe.mime_type))
            rng = np.random.default_rng(1)
            started = time.perf_counter()
            for first in range(0, args.templates, 500):
                images = [
                    NewImage(
                        file=stored[i % len(stored)][0],
                        mime_type=stored[i % len(stored)][1],
                        size_bytes=0,
                        width=None,
                        height=None,
                        original_name="",
                        tags=[],
                        embedding=rng.normal(size=128).astype(np.float32),
                        embedding_space="dlib-resnet-v1",
                        embedding_model="dlib-resnet@0.3.0",
                    )
                    for i in range(first, min(first + 500, args.templates))
                ]
                person = repository.create_person(collection.collection_id, {}, [])
                repository.add_images(collection.collection_id, person.person_id, images)
            print(f"{args.templates} templates written in {time.perf_counter() - started:.1f} s")

            recipe.install(calibrated, store.root)  # the vendor's bundle: the pipeline switches models
            active = services.active_embedding()
            print(f"re-enrolling into {active.space} ({active.model}), one core, one thread")
            work = Reenrolment()
            steps: list[float] = []
            started = time.perf_counter()
            while not all(progress.finished for progress in work.progress(services)):
                step_started = time.perf_counter()
                counts = work.run(services, time.monotonic() + 0.05)  # one step of STEP photos
                steps.append((time.perf_counter() - step_started) / max(counts["reenrolled"] + counts["failed"], 1))
            total = time.perf_counter() - started
            (progress,) = work.progress(services)
            ms = np.asarray(steps) * 1000
            print(progress.line())
            print(
                f"{args.templates} templates in {total:.0f} s: {args.templates / total:.1f} photos/s, "
                f"{np.median(ms):.1f} / {np.percentile(ms, 95):.1f} ms per photo (p50 / p95 over steps of {STEP})"
            )
            cadence = SchedulerSettings()
            share = cadence.plugin_work_budget_seconds / cadence.plugin_work_seconds
            print(
                f"with the scheduler's defaults (runs of {cadence.plugin_work_budget_seconds:g} s every "
                f"{cadence.plugin_work_seconds:g} s): about {total / share / 60:.0f} minutes"
            )
        finally:
            bed.close()


if __name__ == "__main__":
    main()
