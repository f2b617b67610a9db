"""Build plugins/template as its own wheel and install it apart from the appliance, as an
integrator would: tests then put the returned directory on PYTHONPATH of a subprocess, where the
appliance finds the plugin through its entry point only."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

__all__ = ["TEMPLATE_DIR", "install_template_plugin"]

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "plugins" / "template"


def install_template_plugin(tmp_dir: Path) -> Path:
    """Build the template's wheel in `tmp_dir` and install it into `tmp_dir/site`; return that directory.

    The build works offline: no build isolation (setuptools and wheel come from the running
    environment) and no index. It runs on a copy, so the source tree gets no build/ or egg-info.
    """
    source = tmp_dir / "template-src"
    shutil.copytree(
        TEMPLATE_DIR,
        source,
        ignore=shutil.ignore_patterns("tests", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache"),
    )
    wheels = tmp_dir / "wheels"
    _pip("wheel", "--no-deps", "--no-build-isolation", "--wheel-dir", str(wheels), str(source))
    (wheel,) = wheels.glob("appliance_plugin_exposure-*.whl")
    site = tmp_dir / "site"
    _pip("install", "--no-deps", "--target", str(site), str(wheel))
    return site


def _pip(*args: str) -> None:
    command = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", *args, "--no-index"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"pip {args[0]} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
