"""The docs keep up with the code: every error code, every setting, every package, the README's commands."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest

from appliance.domain.errors import ErrorCode
from appliance.ops.settings import Settings
from appliance.web.responses import HTTP_STATUS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.mark.parametrize("code", list(ErrorCode), ids=lambda c: c.name)
def test_every_error_code_is_documented(code: ErrorCode) -> None:
    rows = re.findall(r"^\| (\d+) \| (\w+) \| ([^|]+) \|", (DOCS / "errors.md").read_text(), re.M)
    documented = {int(number): (name, status.strip()) for number, name, status in rows}
    assert code.value in documented, f"docs/errors.md lacks code {code.value}"
    name, status = documented[code.value]
    assert name == code.name
    assert status == str(HTTP_STATUS[code]) if code in HTTP_STATUS else status == "(analysis)"


def _fields(struct: type[msgspec.Struct], prefix: str = "") -> list[str]:
    names = []
    for field in msgspec.structs.fields(struct):
        if isinstance(field.default_factory, type) and issubclass(field.default_factory, msgspec.Struct):
            names += _fields(field.default_factory, f"{field.name}.")
        else:
            names.append(prefix + field.name)
    return names


@pytest.mark.parametrize("name", _fields(Settings))
def test_every_setting_is_documented(name: str) -> None:
    text = (DOCS / "configuration.md").read_text()
    section, _, field = name.rpartition(".")
    if section:
        text = text.split(f"## [{section}]", 1)[1].split("\n## ", 1)[0]
    assert re.search(rf"^\| {field} \|", text, re.M), f"docs/configuration.md lacks {name}"


@pytest.mark.parametrize(
    "package", sorted(p.name for p in (ROOT / "appliance").iterdir() if (p / "__init__.py").exists())
)
def test_every_package_is_in_the_architecture(package: str) -> None:
    assert f"appliance/{package}" in (DOCS / "architecture.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    readme, ci = (ROOT / "README.md").read_text(), (ROOT / ".ci" / "run").read_text()
    assert "./scripts/test" in readme and "./scripts/run" in readme
    assert re.search(r"^scripts/test\b", ci, re.M)
