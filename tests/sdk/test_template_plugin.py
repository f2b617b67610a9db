"""The template plugin as an integrator ships it: a wheel of its own, found by its entry point.

Its own tests (plugins/template/tests) run here too, in a subprocess from the template's folder,
exactly as an integrator runs `pytest` there: the appliance's test run stays one command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support.plugin_template import TEMPLATE_DIR, install_template_plugin

RUN_INSTALLED = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import numpy as np
    from PIL import Image
    from skimage import data

    from appliance.core.plugins import load_plugins
    from appliance.sdk.testing import run_analyzer

    host = load_plugins()
    spec = host.registry.get("exposure")
    photo, white = Path(sys.argv[1]) / "astronaut.png", Path(sys.argv[1]) / "white.jpg"
    Image.fromarray(data.astronaut()).save(photo)
    Image.fromarray(np.full((120, 160, 3), 252, dtype=np.uint8)).save(white)
    print(json.dumps({
        "plugins": [[p.name, p.version, list(p.analysis_types)] for p in host.plugins()],
        "module_file": sys.modules[spec.analyzer.__module__].__file__,
        "spec": [spec.plugin, spec.plugin_version],
        "astronaut": run_analyzer(spec, [(photo, ["photo_selfie"])]).resolution,
        "white": run_analyzer(spec, [(white, ["photo_selfie"])]).resolution,
    }))
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APPLIANCE_TRACE_PLUGINS")}
    return {**env, **extra}


def test_the_template_installs_as_its_own_distribution_and_runs(tmp_path: Path) -> None:
    site = install_template_plugin(tmp_path)
    work = tmp_path / "work"
    work.mkdir()

    done = subprocess.run(
        [sys.executable, "-c", RUN_INSTALLED, str(work)],
        cwd=work,
        env=_env(PYTHONPATH=str(site)),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert ["appliance-plugin-exposure", "0.1.0", ["EXPOSURE"]] in found["plugins"]
    assert found["spec"] == ["appliance-plugin-exposure", "0.1.0"]
    assert Path(found["module_file"]).is_relative_to(site)  # the installed copy, not the source tree
    assert (found["astronaut"], found["white"]) == ("SUCCESS", "DECLINED")


def test_the_templates_own_tests_pass() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=TEMPLATE_DIR,
        env=_env(PYTHONDONTWRITEBYTECODE="1"),
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout
