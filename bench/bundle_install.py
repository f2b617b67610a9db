"""Installing a 100 MB signed model bundle vs `sha256sum` + `cp` of the same bytes, in one run.

Builds a bundle of four models (random weights, 25 MB each by default), signs it 2-of-3, and
times, on the same file system:

- baseline: `sha256sum bundle.tar` then `cp bundle.tar <dir>/copy.tar` (and the same followed by
  `sync` of the copy, since the installer fsyncs every file);
- install: `Updater.install` into a fresh model store (signature check, streaming with size and
  sha256 checks, fsync, rename, journal, atomic switch), in process, and the same through the
  `appliance-update install` console script (Python start-up included).

Prints the median of the repetitions and the ratio install / baseline (the issue asks <= ~2).

    .venv/bin/python bench/bundle_install.py [--mb 100] [--repeat 3] [--dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from appliance_updater import keys
from appliance_updater.bundle import build_bundle, sign_bundle
from appliance_updater.install import Updater
from appliance_updater.trust import Root

MODELS = 4


def make_models(src: Path, total_mb: int) -> None:
    per_model = total_mb * (1 << 20) // MODELS
    for i in range(MODELS):
        name, version = f"bench-{i}", "1.0.0"
        d = src / name / version
        d.mkdir(parents=True)
        data = os.urandom(per_model)
        (d / "model.onnx").write_bytes(data)
        card = {
            "name": name,
            "version": version,
            "task": "other",
            "runtime": "onnx",
            "files": [{"name": "model.onnx", "sha256": hashlib.sha256(data).hexdigest(), "size_bytes": len(data)}],
            "source": "bench",
            "license": "CC0-1.0",
        }
        (d / "card.json").write_text(json.dumps(card))


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", help="where to work (default: the system temp directory)")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="bundle-bench-", dir=args.dir) as tmp_name:
        tmp = Path(tmp_name)
        make_models(tmp / "src", args.mb)
        signers = [keys.generate() for _ in range(3)]
        root = Root.create([k.public for k in signers], 2)
        for k in signers:
            root = root.sign(k)
        (tmp / "root.json").write_text(json.dumps(root.to_json()))
        bundle = tmp / "bundle.tar"
        now = datetime.now(UTC)
        build_bundle(
            tmp / "src",
            bundle,
            bundle_id="bench",
            bundle_version=1,
            product="liveness-appliance",
            runtime_abi="models-1",
            issued_at=now,
            expires_at=now + timedelta(days=1),
        )
        for k in signers[:2]:
            sign_bundle(bundle, k)
        size_mb = bundle.stat().st_size / (1 << 20)
        shutil.rmtree(tmp / "src")
        script = Path(sys.executable).with_name("appliance-update")

        base, base_sync, inproc, cli = [], [], [], []
        for i in range(args.repeat):
            copy = tmp / f"copy-{i}.tar"

            def baseline(copy=copy) -> None:
                subprocess.run(["sha256sum", str(bundle)], check=True, stdout=subprocess.DEVNULL)
                subprocess.run(["cp", str(bundle), str(copy)], check=True)

            base.append(timed(baseline))
            copy.unlink()
            base_sync.append(timed(lambda copy=copy: (baseline(copy), subprocess.run(["sync", str(copy)], check=True))))
            copy.unlink()

            for runs, via_cli in ((inproc, False), (cli, True)):
                site = tmp / f"site-{i}-{via_cli}"
                up = Updater(site / "state", site / "models")
                with up:
                    up.init(tmp / "root.json")
                if via_cli:
                    cmd = [
                        str(script),
                        "install",
                        "--quiet",
                        "--state-dir",
                        str(site / "state"),
                        "--models-root",
                        str(site / "models"),
                        str(bundle),
                    ]
                    runs.append(timed(lambda cmd=cmd: subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)))
                else:

                    def install(up=up) -> None:
                        with up:
                            up.install(bundle)

                    runs.append(timed(install))
                shutil.rmtree(site)

    b, bs, ip, c = (statistics.median(x) for x in (base, base_sync, inproc, cli))
    print(f"bundle: {size_mb:.1f} MB, {MODELS} models, 2-of-3 Ed25519 signatures; median of {args.repeat}")
    print(f"sha256sum + cp:                 {b:7.3f} s")
    print(f"sha256sum + cp + sync:          {bs:7.3f} s")
    print(f"install (in process):           {ip:7.3f} s   {ip / b:4.2f} x sha256sum+cp")
    print(f"appliance-update install (CLI): {c:7.3f} s   {c / b:4.2f} x sha256sum+cp   {c / bs:4.2f} x with sync")


if __name__ == "__main__":
    main()
