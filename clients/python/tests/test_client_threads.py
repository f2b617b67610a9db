"""Threads that decode their first documents at the same moment: none may crash the process.

msgspec completes a Struct type's decoding information when it first meets the type; threads that
met it together could see it half made and crash the interpreter (msgspec 0.22, seen as a
segfault in the N-host test's clients). Each try is a fresh Python, where no type has been met
yet, with the interpreter switching threads as often as it can."""

from __future__ import annotations

import subprocess
import sys

TRIES = 8

SCRIPT = """
import sys, threading
import httpx
from appliance_client import Folder
from appliance_client.core import decode
sys.setswitchinterval(1e-6)
body = (b'{"folder_id":"f","company_id":null,"user_id":"u","resolution_status":"FINISHED",'
    b'"system_resolution":"SUCCESS","resolution_endpoint":null,"meta_data":{"a":1},"technical_meta_data":{},'
    b'"time_created":"2026-01-01T00:00:00.123+00:00","time_updated":"2026-01-01T00:00:00+00:00","media":[{'
    b'"media_id":"m","folder_id":"f","media_type":"IMAGE_FOLDER","original_name":"x.jpg","tags":["photo_selfie"],'
    b'"mime_type":"image/jpeg","size_bytes":1,"width":1,"height":1,"frame_count":null,"duration_seconds":null,'
    b'"original_url":"u","thumb_url":null,"preview_url":null,"meta_data":{},'
    b'"time_created":"2026-01-01T00:00:00+00:00","time_updated":"2026-01-01T00:00:00+00:00"}],"analyses":[]}')
start = threading.Barrier(24)
def run():
    start.wait()
    for _ in range(20):
        assert decode(httpx.Response(200, content=body), Folder).media[0].tags == ["photo_selfie"]
threads = [threading.Thread(target=run) for _ in range(24)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
"""


def test_threads_decoding_their_first_documents_together_never_crash() -> None:
    for _ in range(TRIES):
        done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "Traceback" not in done.stderr, done.stderr[-2000:]
