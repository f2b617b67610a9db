"""API throughput and latency: a folder GET and a 1 MB image upload, against a real appliance.

Starts `appliance run` (SQLite, the local queue, real workers) in a temporary data directory,
then drives it over HTTP from this process with N concurrent clients. Prints requests per
second and latency percentiles per scenario, and each scenario's median as a ratio of the
baseline measured in the same run (`GET /health/live`: the server and framework floor).

    .venv/bin/python bench/api.py [--requests 400] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

ADMIN_EMAIL = "admin@appliance.local"
ADMIN_PASSWORD = "bench-password-1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def photo_of_about(size_bytes: int) -> bytes:
    """A real face photo (scikit-image's astronaut) as a JPEG of roughly `size_bytes`."""
    from skimage import data

    base = Image.fromarray(data.astronaut())
    side = 512
    while True:
        buffer = io.BytesIO()
        base.resize((side, side), Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=95)
        if buffer.tell() >= size_bytes:
            return buffer.getvalue()
        side = int(side * 1.15)


def start_appliance(data_dir: Path, port: int, analysis_workers: int = 1, **settings: str) -> subprocess.Popen[bytes]:
    """`appliance init` and `appliance run` in `data_dir`, answering on `port`, once it is ready;
    `settings` are extra APPLIANCE_* variables without the prefix (e.g. CAPTURE__PROMPT_SECONDS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("APPLIANCE_")}
    env.update(APPLIANCE_DATA_DIR=str(data_dir), APPLIANCE_API__PORT=str(port), APPLIANCE_ADMIN_PASSWORD=ADMIN_PASSWORD)
    env.update({f"APPLIANCE_{key.upper()}": value for key, value in settings.items()})
    env["APPLIANCE_LOG_LEVEL"] = "WARNING"
    subprocess.run(
        [sys.executable, "-m", "appliance.cli", "init", "--admin-email", ADMIN_EMAIL],
        env=env,
        check=True,
        capture_output=True,
    )
    log = (data_dir / "appliance.log").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance.cli", "run", "--analysis-workers", str(analysis_workers)],
        env=env,
        stdout=log,
        stderr=log,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    process.wait(timeout=30)
    tail = (data_dir / "appliance.log").read_text(errors="replace")[-2000:]  # the directory may be temporary
    raise SystemExit(f"the appliance did not start; the end of its log:\n{tail}")


def measure(
    call: Callable[[httpx.Client], httpx.Response], base_url: str, token: str, requests: int, concurrency: int
) -> tuple[float, list[float]]:
    """Run `requests` calls over `concurrency` threads; (requests per second, latencies in ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = [requests // concurrency + (1 if i < requests % concurrency else 0) for i in range(concurrency)]

    def worker(count: int) -> None:
        with httpx.Client(base_url=base_url, headers={"X-Forensic-Access-Token": token}, timeout=60) as client:
            call(client)  # warm-up: connection and first-call costs stay out of the figures
            mine = []
            for _ in range(count):
                started = time.perf_counter()
                response = call(client)
                mine.append((time.perf_counter() - started) * 1000)
                if response.status_code >= 400:
                    raise SystemExit(f"request failed: {response.status_code} {response.text[:200]}")
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, args=(n,)) for n in per_thread]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return requests / (time.perf_counter() - started), latencies


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=400, help="requests per scenario (uploads: a quarter)")
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()

    photo = photo_of_about(1_000_000)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="appliance-bench-") as tmp:
        # the API's own capacity: one token sends more than `rate_limits.per_token_per_minute` allows
        process = start_appliance(Path(tmp), port, RATE_LIMITS__ENABLED="false")
        try:
            token = httpx.post(
                f"{base_url}/api/authorize/auth",
                json={"credentials": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}},
            ).json()["access_token"]
            payload = json.dumps({"media:tags": {"photo1": ["photo_selfie"]}})
            with httpx.Client(base_url=base_url, headers={"X-Forensic-Access-Token": token}) as client:
                folder_id = client.post(
                    "/api/folders/", data={"payload": payload}, files={"photo1": ("p.jpg", photo)}
                ).json()["folder_id"]

            scenarios: list[tuple[str, Callable[[httpx.Client], httpx.Response], int]] = [
                ("GET /health/live (baseline)", lambda c: c.get("/health/live"), args.requests),
                (
                    "GET /api/folders/{id}",
                    lambda c: c.get(f"/api/folders/{folder_id}", params={"with_analyses": "true"}),
                    args.requests,
                ),
                (
                    f"POST /api/folders/ ({len(photo) / 1e6:.2f} MB JPEG)",
                    lambda c: c.post("/api/folders/", data={"payload": payload}, files={"photo1": ("p.jpg", photo)}),
                    max(args.concurrency, args.requests // 4),
                ),
            ]
            print(f"appliance on SQLite, {os.cpu_count()} CPUs, {args.concurrency} concurrent clients\n")
            columns = ("n", "req/s", "p50 ms", "p95 ms", "p99 ms")
            print(
                f"{'scenario':<40} "
                + " ".join(f"{c:>{5 if c == 'n' else 8}}" for c in columns)
                + f" {'p50 / baseline':>15}"
            )
            baseline = None
            for name, call, count in scenarios:
                rate, latencies = measure(call, base_url, token, count, args.concurrency)
                p50 = statistics.median(latencies)
                baseline = baseline or p50
                print(
                    f"{name:<40} {count:>5} {rate:>8.1f} {p50:>8.1f} {percentile(latencies, 95):>8.1f} "
                    f"{percentile(latencies, 99):>8.1f} {p50 / baseline:>14.1f}x"
                )
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
