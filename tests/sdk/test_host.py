from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from appliance.core.plugins import TRACE_ENV, PluginInfo, PluginSource, load_plugins, start_plugins
from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    Outcome,
    PluginError,
    Resolution,
    hookimpl,
)

BRIGHTNESS_MODULE = "tests.plugins.brightness_plugin"

WriteModule = Callable[[str, str], str]


class Fixed:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        return Outcome(resolution=Resolution.SUCCESS)


class TwoTypes:
    """A throw-away plugin object: any object with @hookimpl methods is a plugin."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl
    def register_analyzers(self, registry: AnalyzerRegistry) -> None:
        self.calls += 1
        registry.register(AnalyzerSpec(type="one", analyzer=Fixed()))
        registry.register(AnalyzerSpec(type="two", analyzer=Fixed(), tags=frozenset({"x_tag"})))


class OneType:
    @hookimpl
    def register_analyzers(self, registry: AnalyzerRegistry) -> None:
        registry.register(AnalyzerSpec(type="three", analyzer=Fixed()))


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """Write a plugin module on sys.path; return its unique importable name."""
    root = tmp_path / "modules"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    written: list[str] = []

    def write(stem: str, source: str) -> str:
        name = f"{stem}_{tmp_path.name.replace('-', '_')}"
        (root / f"{name}.py").write_text(textwrap.dedent(source))
        written.append(name)
        return name

    yield write
    for name in written:
        sys.modules.pop(name, None)


def fake_distribution(site: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    """An installed distribution as importlib.metadata sees it: a dist-info folder on sys.path."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [f"{ep} = {target}" for ep, target in entry_points.items()]
    (info / "entry_points.txt").write_text("[appliance.plugins]\n" + "\n".join(lines) + "\n")


PLUGIN_SOURCE = """
    from appliance.sdk import AnalyzerSpec, Outcome, Resolution, hookimpl

    class Fixed:
        def analyze(self, request, ctx):
            return Outcome(resolution=Resolution.SUCCESS)

    @hookimpl
    def register_analyzers(registry):
        registry.register(AnalyzerSpec(type="{type}", analyzer=Fixed()))
"""


def test_hook_register_analyzers() -> None:
    two, one = TwoTypes(), OneType()
    host = start_plugins([PluginSource(two, "appliance-plugin-two", "2.0"), PluginSource(one, "plugin-one", "1.0")])

    assert two.calls == 1
    assert host.registry.types() == ["ONE", "THREE", "TWO"]
    assert host.registry.known_tags() == {"x_tag"}
    assert host.plugins() == [
        PluginInfo("appliance-plugin-two", "2.0", ("ONE", "TWO")),
        PluginInfo("plugin-one", "1.0", ("THREE",)),
    ]
    three = host.registry.get("three")
    assert three is not None and (three.plugin, three.plugin_version) == ("plugin-one", "1.0")


def test_plugin_modules_load_with_their_version() -> None:
    host = load_plugins([BRIGHTNESS_MODULE], entry_points=False)

    assert host.plugins() == [PluginInfo(BRIGHTNESS_MODULE, "1.0", ("BRIGHTNESS",))]
    spec = host.registry.get("brightness")
    assert spec is not None and (spec.plugin, spec.plugin_version) == (BRIGHTNESS_MODULE, "1.0")


def test_a_module_without_version_reports_0(write_module: WriteModule) -> None:
    name = write_module("unversioned", PLUGIN_SOURCE.format(type="plain"))

    assert load_plugins([name], entry_points=False).plugins() == [PluginInfo(name, "0", ("PLAIN",))]


def test_two_plugins_offering_one_type_are_refused_naming_both(write_module: WriteModule) -> None:
    first = write_module("first", PLUGIN_SOURCE.format(type="brightness"))

    with pytest.raises(PluginError) as raised:
        load_plugins([BRIGHTNESS_MODULE, first], entry_points=False)

    message = str(raised.value)
    assert "BRIGHTNESS" in message and f"plugin {BRIGHTNESS_MODULE} 1.0" in message and f"plugin {first} 0" in message


BROKEN_PLUGINS = {
    "import_error": ("import appliance_no_such_dependency\n", "ModuleNotFoundError"),
    "hook_raises": (
        """
        from appliance.sdk import hookimpl

        @hookimpl
        def register_analyzers(registry):
            raise RuntimeError("model file missing")
        """,
        "register_analyzers raised RuntimeError: model file missing",
    ),
    "wrong_argument": (
        """
        from appliance.sdk import hookimpl

        @hookimpl
        def register_analyzers(reg):
            pass
        """,
        "reg",
    ),
    "misspelt_hook": (
        """
        from appliance.sdk import hookimpl

        @hookimpl
        def register_analysers(registry):
            pass
        """,
        "register_analysers",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN_PLUGINS))
def test_a_broken_plugin_is_named_in_a_clear_error(case: str, write_module: WriteModule) -> None:
    source, detail = BROKEN_PLUGINS[case]
    name = write_module(case, source)

    with pytest.raises(PluginError) as raised:
        load_plugins([name], entry_points=False)

    assert f"plugin {name} 0:" in str(raised.value) or f"plugin module {name} " in str(raised.value)
    assert detail in str(raised.value)
    assert raised.value.__cause__ is not None  # the original error stays chained for the log


def test_a_missing_plugin_module_is_named() -> None:
    with pytest.raises(PluginError, match="plugin module tests.plugins.no_such_plugin .*could not be imported"):
        load_plugins(["tests.plugins.no_such_plugin"], entry_points=False)


def test_entry_points_load_under_the_distribution_name_unless_disabled(
    tmp_path: Path, write_module: WriteModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = write_module("ep_plugin", PLUGIN_SOURCE.format(type="from_entry_point"))
    site = tmp_path / "site"
    fake_distribution(site, "appliance-plugin-fake", "1.2.3", {"fake": module})
    monkeypatch.syspath_prepend(str(site))

    loaded = load_plugins()
    assert PluginInfo("appliance-plugin-fake", "1.2.3", ("FROM_ENTRY_POINT",)) in loaded.plugins()

    assert load_plugins(entry_points=False).plugins() == []
    # Named in plugin_modules too, the same module is still one plugin.
    both = [p for p in load_plugins([module]).plugins() if p.analysis_types == ("FROM_ENTRY_POINT",)]
    assert both == [PluginInfo("appliance-plugin-fake", "1.2.3", ("FROM_ENTRY_POINT",))]


def test_a_broken_entry_point_names_its_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    fake_distribution(site, "appliance-plugin-broken", "0.9", {"broken": "appliance_plugin_broken_missing"})
    monkeypatch.syspath_prepend(str(site))

    with pytest.raises(PluginError, match="plugin appliance-plugin-broken 0.9: entry point broken = "):
        load_plugins()
    assert load_plugins(entry_points=False).plugins() == []


def test_tracing_prints_hook_calls_to_stderr(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    start_plugins([PluginSource(OneType(), "plugin-one", "1.0")])
    assert capsys.readouterr().err == ""

    monkeypatch.setenv(TRACE_ENV, "1")
    start_plugins([PluginSource(OneType(), "plugin-one", "1.0")])

    err = capsys.readouterr().err
    assert "register_analyzers:" in err and "plugin-one" in err and "Results:" in err
