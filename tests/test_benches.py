"""Every script of bench/ loads as documented (`.venv/bin/python bench/<name>.py`): its imports
resolve from a checkout, so none breaks unseen when a module it uses moves. One Python process
loads them all, each as a module (their `main()` does not run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"

LOADER = """
import importlib.util, os, sys, traceback
sys.path.insert(0, os.path.dirname(sys.argv[1]))  # as Python does for a script: its directory first
failed = []
for path in sys.argv[1:]:
    name = os.path.basename(path)[:-3]
    spec = importlib.util.spec_from_file_location(name, path)
    module = sys.modules[name] = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except BaseException:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_bench_script_loads() -> None:
    scripts = sorted(str(path) for path in BENCH.glob("*.py"))
    assert len(scripts) >= 10
    done = subprocess.run(
        [sys.executable, "-c", LOADER, *scripts], capture_output=True, text=True, timeout=240, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
