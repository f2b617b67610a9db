"""Guards that keep the plugin API honest (as datasette's do): every hook is documented with its
exact signature and has a test, and plugins import nothing of the appliance but `appliance.sdk`."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import appliance.sdk
from appliance.sdk import hookspecs

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "writing-plugins.md"


def hooks() -> list[str]:
    marker = f"{hookspecs.PROJECT_NAME}_spec"
    return sorted(name for name, value in vars(hookspecs).items() if hasattr(value, marker))


def test_there_are_hooks() -> None:
    assert "register_analyzers" in hooks()


@pytest.mark.parametrize("hook", hooks())
def test_every_hook_is_documented_under_a_heading_with_its_signature(hook: str) -> None:
    signature = f"{hook}({', '.join(inspect.signature(getattr(hookspecs, hook)).parameters)})"
    headings = [line for line in DOC.read_text().splitlines() if line.startswith(("## ", "### "))]
    assert any(signature in heading for heading in headings), f"no heading in {DOC.name} shows {signature}"


@pytest.mark.parametrize("hook", hooks())
def test_every_hook_has_a_test(hook: str) -> None:
    tests = {
        match.group(1)
        for path in Path(__file__).parent.glob("test_*.py")
        for match in re.finditer(r"^def (test_hook_\w+)\(", path.read_text(), re.MULTILINE)
    }
    assert f"test_hook_{hook}" in tests


def test_the_public_api_exports_what_it_lists() -> None:
    for name in appliance.sdk.__all__:
        assert getattr(appliance.sdk, name) is not None
    assert {"hookimpl", "AnalyzerSpec", "MediaRule", "AnalysisContext", "Outcome"} <= set(appliance.sdk.__all__)


#: What a plugin may import besides `appliance.sdk`: the web side for its routes, the console side for its
#: console pages, the kit for its tests.
PLUGIN_MODULES_OF_THE_SDK = frozenset({"appliance.sdk.web", "appliance.sdk.console", "appliance.sdk.testing"})


def plugin_sources() -> list[Path]:
    return sorted([*(ROOT / "plugins").glob("*/**/*.py"), *(ROOT / "tests" / "plugins").glob("*.py")])


@pytest.mark.parametrize("path", plugin_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_plugins_import_only_the_sdk(path: Path) -> None:
    imported: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.append(node.module)
    outside = [m for m in imported if m.split(".")[0] == "appliance" and not m.startswith("appliance.sdk")]
    outside += [m for m in imported if m.startswith("appliance.sdk.") and m not in PLUGIN_MODULES_OF_THE_SDK]
    assert outside == [], f"{path.name} imports {outside}: plugins may import only appliance.sdk"
