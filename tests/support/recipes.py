"""The model recipes of packaging/recipes, loaded as modules by the tests and the benches (they are
scripts a vendor runs, not a package: a `packaging` package would hide the PyPI one the appliance
imports)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

from tests.support.missing import missing

__all__ = ["OMZ_EMBEDDING_FILES", "RECIPES", "convert_python", "load_recipe"]

RECIPES = Path(__file__).resolve().parents[2] / "packaging" / "recipes"
#: The shared data's published files of the face embedding bundle's preferred model (under models/):
#: Open Model Zoo's re-identification model and the landmarks model that aligns its chip.
OMZ_EMBEDDING_FILES = ("omz_face-reidentification-retail-0095.xml", "omz_landmarks-regression-retail-0009.xml")


def load_recipe(name: str) -> ModuleType:
    """The recipe `packaging/recipes/<name>.py` as the module `<name>_recipe` (loaded once)."""
    module_name = f"{name}_recipe"
    if module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, RECIPES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def convert_python() -> str:
    """The conversion Python the recipes convert OpenVINO graphs with: $APPLIANCE_CONVERT_PYTHON,
    else scripts/setup-convert's .venv-convert; `missing` where there is neither."""
    made = RECIPES.parents[1] / ".venv-convert" / "bin" / "python"
    given = os.environ.get("APPLIANCE_CONVERT_PYTHON") or (str(made) if made.exists() else None)
    if given is None:
        missing("no conversion Python (scripts/setup-convert makes .venv-convert)")
    return given
