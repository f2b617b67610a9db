from __future__ import annotations

import pytest

from appliance.sdk import (
    AnalysisContext,
    AnalysisRequest,
    AnalyzerRegistry,
    AnalyzerSpec,
    Outcome,
    PluginError,
    Resolution,
)


class Fixed:
    def analyze(self, request: AnalysisRequest, ctx: AnalysisContext) -> Outcome:
        return Outcome(resolution=Resolution.SUCCESS)


def spec(type: str, tags: frozenset[str] = frozenset()) -> AnalyzerSpec:
    return AnalyzerSpec(type=type, analyzer=Fixed(), tags=tags)


def test_types_are_upper_cased_and_found_whatever_the_case() -> None:
    registry = AnalyzerRegistry()
    registry.register(spec("exposure"))

    assert registry.types() == ["EXPOSURE"]
    found = registry.get("Exposure")
    assert found is not None and found.type == "EXPOSURE"
    assert registry.get("EXPOSURE") is found
    assert registry.get("unknown") is None


def test_types_and_specs_are_sorted() -> None:
    registry = AnalyzerRegistry()
    for name in ("quality", "biometry", "documents"):
        registry.register(spec(name))

    assert registry.types() == ["BIOMETRY", "DOCUMENTS", "QUALITY"]
    assert [s.type for s in registry.specs()] == registry.types()


def test_each_registration_carries_the_registering_plugin() -> None:
    registry = AnalyzerRegistry()
    with registry.registering("appliance-plugin-a", "1.2.0"):
        registry.register(spec("A"))
    registry.register(AnalyzerSpec(type="B", analyzer=Fixed(), plugin="by-hand", plugin_version="9"))

    a, b = registry.get("A"), registry.get("B")
    assert a is not None and (a.plugin, a.plugin_version) == ("appliance-plugin-a", "1.2.0")
    assert b is not None and (b.plugin, b.plugin_version) == ("by-hand", "9")


def test_a_type_offered_twice_names_both_plugins() -> None:
    registry = AnalyzerRegistry()
    with registry.registering("appliance-plugin-a", "1.0"):
        registry.register(spec("QUALITY"))
    with registry.registering("appliance-plugin-b", "2.0"), pytest.raises(PluginError) as raised:
        registry.register(spec("quality"))

    message = str(raised.value)
    assert "QUALITY" in message
    assert "appliance-plugin-a 1.0" in message and "appliance-plugin-b 2.0" in message


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (AnalyzerSpec(type="  ", analyzer=Fixed()), "empty type"),
        (AnalyzerSpec(type="X", analyzer=object()), "no analyze(request, ctx) method"),  # type: ignore[arg-type]
    ],
)
def test_a_malformed_spec_is_refused_with_the_plugin_named(bad: AnalyzerSpec, expected: str) -> None:
    registry = AnalyzerRegistry()
    with registry.registering("appliance-plugin-x", "0.1"), pytest.raises(PluginError) as raised:
        registry.register(bad)

    assert "plugin appliance-plugin-x 0.1" in str(raised.value) and expected in str(raised.value)
    assert registry.types() == []


def test_known_tags_are_the_union_of_the_specs_tags() -> None:
    registry = AnalyzerRegistry()
    assert registry.known_tags() == frozenset()
    registry.register(spec("A", frozenset({"id_card_front", "id_card_back"})))
    registry.register(spec("B", frozenset({"id_card_front", "passport_page"})))

    assert registry.known_tags() == {"id_card_front", "id_card_back", "passport_page"}
