"""The model recipes of packaging/recipes, loaded as modules by the tests and the benches (they are
scripts a vendor runs, not a package: a `packaging` package would hide the PyPI one the appliance
imports)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

__all__ = ["OMZ_EMBEDDING_FILES", "RECIPES", "load_recipe"]

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
