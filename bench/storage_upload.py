"""Upload latency on the object storage backend against the local directory (issue 20's figure:
upload p95 on S3 no worse than 1.3x the local backend, in the same run).

Two appliances run side by side on this host (`appliance init`, then the API and a preview worker
as processes, SQLite): one keeps media in its local directory, the other in a bucket of a real
SeaweedFS server started here (tests/support/s3_server.py: `weed server` with its S3 gateway on
loopback ports). The same photos are uploaded to each through the API over HTTP, one folder per
photo (`POST /api/folders/`, no analysis: the upload path alone), alternating between the two so
that whatever else the machine does weighs on both alike. Every photo is distinct content (a
1024x1024 JPEG of about 200 KB), so each upload stores a new file or object. The first uploads of
each are a warm-up and not counted.

    .venv/bin/python bench/storage_upload.py [--photos 200] [--warmup 10]

Prints the median and p95 of each backend in milliseconds and the ratio S3/local; exits 1 when the
p95 ratio is over `--max-ratio` (1.3).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import cv2  # noqa: E402
import httpx  # noqa: E402
import numpy as np  # noqa: E402

from tests.support.live import LiveAppliance, running_appliance  # noqa: E402
from tests.support.media_samples import astronaut_rgb  # noqa: E402
from tests.support.s3_server import seaweedfs  # noqa: E402

WORKERS = {"preview": 1}


def photos(count: int) -> list[bytes]:
    """`count` distinct 1024x1024 JPEG photos of a face (about 200 KB each)."""
    face = cv2.resize(astronaut_rgb(), (1024, 1024), interpolation=cv2.INTER_CUBIC)
    made = []
    for index in range(count):
        rgb = face.copy()
        for bit in range(16):  # the index in black and white 16 px squares: survives the JPEG's quantisation
            rgb[:16, bit * 16 : (bit + 1) * 16] = 255 if index >> bit & 1 else 0
        ok, jpeg = cv2.imencode(".jpg", np.ascontiguousarray(rgb[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, 92])
        assert ok
        made.append(jpeg.tobytes())
    return made


def upload(client: httpx.Client, photo: bytes) -> float:
    """Seconds for one folder upload of `photo`, answered 201."""
    payload = json.dumps({"media:tags": {"photo1": ["photo_selfie"]}})
    started = time.perf_counter()
    response = client.post("/api/folders/", data={"payload": payload}, files={"photo1": ("selfie.jpg", photo)})
    elapsed = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"upload answered {response.status_code}: {response.text[:300]}")
    return elapsed


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[18]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200, help="uploads counted per backend")
    parser.add_argument("--warmup", type=int, default=10, help="uploads per backend before counting")
    parser.add_argument("--max-ratio", type=float, default=1.3, help="of the p95s, S3 over local")
    args = parser.parse_args()
    total = args.photos + args.warmup
    images = photos(total)
    sizes = [len(image) for image in images]
    with tempfile.TemporaryDirectory(prefix="s3-bench-") as tmp, seaweedfs() as server:
        bucket = server.new_bucket()
        with (
            running_appliance(Path(tmp) / "local", workers=WORKERS, scheduler=False) as local,
            running_appliance(Path(tmp) / "s3", workers=WORKERS, scheduler=False, **server.settings_env(bucket)) as s3,
        ):
            apps: dict[str, LiveAppliance] = {"local": local, "s3": s3}
            clients = {name: app.client(app.login(), timeout=60) for name, app in apps.items()}
            times: dict[str, list[float]] = {name: [] for name in apps}
            for index, image in enumerate(images):
                order = ("local", "s3") if index % 2 == 0 else ("s3", "local")
                for name in order:
                    elapsed = upload(clients[name], image)
                    if index >= args.warmup:
                        times[name].append(elapsed)
            stored = len(server.keys(bucket, "files/"))
    if stored != total:
        print(f"the bucket holds {stored} content objects, not {total}", file=sys.stderr)
        return 1
    print(
        f"storage upload: {args.photos} photos per backend (after {args.warmup} warm-up), "
        f"{statistics.median(sizes) / 1024:.0f} KB median, one folder each, alternating"
    )
    print(f"{'backend':<8} {'median ms':>10} {'p95 ms':>8} {'max ms':>8}")
    for name, values in times.items():
        print(
            f"{name:<8} {statistics.median(values) * 1000:>10.1f} {p95(values) * 1000:>8.1f} {max(values) * 1000:>8.1f}"
        )
    median_ratio = statistics.median(times["s3"]) / statistics.median(times["local"])
    p95_ratio = p95(times["s3"]) / p95(times["local"])
    verdict = "ok" if p95_ratio <= args.max_ratio else f"OVER {args.max_ratio}x"
    print(f"S3/local: median {median_ratio:.2f}x, p95 {p95_ratio:.2f}x ({verdict})")
    return 0 if p95_ratio <= args.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
