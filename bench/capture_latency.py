"""From the capture page's last prompt to its verdict, with a 720p camera: what a person waits for.

An appliance on this machine (`appliance run`, SQLite, one analysis worker) with a schedule that
makes a 6-second recording of 2 gestures; Debian's Chromium running the capture page, its fake camera
playing the standard bench selfie (720x1280, shared data bench/selfie720p_1mbps.mp4, looped). Each
run opens a session through the API and runs the page to its verdict; the page's own marks give the
time from the end of the last prompt (the rest of the recording, the upload, QUALITY with the
challenge, the poll) to the verdict on screen. Prints each run, then p50 and p95, and the page's
weight: its script and style as served, gzipped.

    .venv/bin/python bench/capture_latency.py [--runs 10] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import sys
import tempfile
from datetime import datetime
from pathlib import Path

import av
import httpx
import numpy as np
from playwright.sync_api import Browser, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from bench.api import ADMIN_EMAIL, ADMIN_PASSWORD, free_port, start_appliance  # noqa: E402
from tests.console.browser import _ARGS, CHROMIUM  # noqa: E402
from tests.support.y4m import write_y4m  # noqa: E402

#: A 6-second recording: 1 s to start, 2 prompts of 1.8 s with 0.6 s between, 0.7 s after.
SCHEDULE = {
    "CAPTURE__LEAD_IN_SECONDS": "1.0",
    "CAPTURE__PROMPT_SECONDS": "1.8",
    "CAPTURE__PAUSE_SECONDS": "0.6",
    "CAPTURE__FEWEST_GESTURES": "2",
    "CAPTURE__MOST_GESTURES": "2",
    "CAPTURE__ALLOW_FAKE_DEVICES": "true",
}
ASSETS = ("capture.js", "page.js", "capture.css")


def camera(video: Path, out: Path) -> Path:
    with av.open(str(video)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return write_y4m(out, frames[::2], 15)  # 15 frames a second: what the page records at from a webcam


def page_weight(base_url: str) -> int:
    total = 0
    for asset in ASSETS:
        served = httpx.get(f"{base_url}/capture/static/{asset}", headers={"Accept-Encoding": "gzip"})
        served.raise_for_status()
        total += int(served.headers.get("content-length") or len(served.content))
    return total


def _seconds(start: str, end: str) -> float:
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def one_run(browser: Browser, base_url: str, token: str, folder_id: str) -> tuple[float, float]:
    """(seconds from the last prompt's end to the verdict on the page, seconds QUALITY ran)."""
    with httpx.Client(base_url=base_url, headers={"X-Forensic-Access-Token": token}, timeout=60) as api:
        session = api.post(f"/api/folders/{folder_id}/capture_sessions", json={}).json()
        context = browser.new_context(base_url=base_url)
        context.grant_permissions(["camera"])
        page = context.new_page()
        page.goto(session["capture_url"])
        page.wait_for_selector(".capture-verdict:not([hidden])", timeout=120_000)
        waited = page.evaluate("performance.measure('wait', 'capture:last-prompt-end', 'capture:verdict').duration")
        context.close()
        analyses = api.get(f"/api/folders/{folder_id}/analyses").json()
    latest = max(analyses, key=lambda a: a["time_created"])
    return float(waited) / 1000, _seconds(latest["time_started"], latest["time_finished"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    default_data = os.environ.get("APPLIANCE_TEST_DATA") or str(REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    args = parser.parse_args()
    video = args.data / "bench" / "selfie720p_1mbps.mp4"
    if not video.is_file() or not CHROMIUM.is_file():
        sys.exit(f"capture_latency: needs {video} and {CHROMIUM}")
    with tempfile.TemporaryDirectory(prefix="capture-latency-") as tmp:
        port = free_port()
        appliance = start_appliance(Path(tmp) / "data", port, **SCHEDULE)
        base_url = f"http://127.0.0.1:{port}"
        try:
            fake = camera(video, Path(tmp) / "selfie.y4m")
            credentials = {"credentials": {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}}
            token = httpx.post(f"{base_url}/api/authorize/auth", json=credentials).json()["access_token"]
            with open(video.with_name("selfie720p_1mbps.mp4"), "rb") as fh:  # a folder to record into
                folder = httpx.post(
                    f"{base_url}/api/folders/",
                    headers={"X-Forensic-Access-Token": token},
                    data={"payload": json.dumps({"media:tags": {"v": ["video_selfie"]}})},
                    files={"v": ("selfie.mp4", fh)},
                    timeout=60,
                ).json()
            flags = [*_ARGS, "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]
            flags.append(f"--use-file-for-fake-video-capture={fake}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=flags)
                one_run(browser, base_url, token, folder["folder_id"])  # warm-up: models loaded
                waits, runs = [], []
                for run in range(args.runs):
                    waited, analysed = one_run(browser, base_url, token, folder["folder_id"])
                    waits.append(waited)
                    runs.append(analysed)
                    print(f"run {run + 1}: last prompt -> verdict {waited:.2f} s; QUALITY ran {analysed:.2f} s")
                browser.close()
            print(
                f"\nlast prompt -> verdict: p50 {statistics.median(waits):.2f} s, p95 {np.percentile(waits, 95):.2f} s "
                f"({args.runs} runs, 720x1280 camera, {SCHEDULE['CAPTURE__PROMPT_SECONDS']} s prompts)"
            )
            print(
                f"QUALITY with the challenge: p50 {statistics.median(runs):.2f} s, p95 {np.percentile(runs, 95):.2f} s"
            )
            print(f"page script and style, gzipped: {page_weight(base_url) / 1000:.1f} kB")
        finally:
            appliance.send_signal(signal.SIGINT)
            appliance.wait(timeout=60)


if __name__ == "__main__":
    main()
