"""The model card: required fields checked, unknown fields allowed, versions in PEP 440 normal form."""

from __future__ import annotations

import json

import msgspec
import pytest

from appliance_modelstore import ModelCard, ModelError, ModelFile, decode_card, encode_card
from appliance_modelstore.layout import version_key

SHA = "ab" * 32


def _card(**changes: object) -> dict:
    card = {
        "name": "det",
        "version": "1.0.0",
        "task": "face_detector",
        "runtime": "litert",
        "files": [{"name": "model.tflite", "sha256": SHA, "size_bytes": 10}],
        "source": "example==1.0",
        "license": "MIT",
    }
    card.update(changes)
    return card


def test_a_card_round_trips_and_the_bytes_are_stable() -> None:
    card = decode_card(json.dumps(_card(params={"input": {"size": [128, 128]}})))
    assert card.files[0] == ModelFile(name="model.tflite", sha256=SHA, size_bytes=10)
    assert card.sha256 == SHA and card.card_format == 1 and card.embedding_space is None
    assert decode_card(encode_card(card)) == card
    assert encode_card(card) == encode_card(decode_card(encode_card(card)))


def test_unknown_fields_are_allowed_for_newer_updaters() -> None:
    card = decode_card(json.dumps(_card(signed_by=["key-1"], files=[{**_card()["files"][0], "mode": "0644"}])))
    assert card.name == "det"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"task": "palm_reader"}, "task"),
        ({"runtime": "tensorflow"}, "runtime"),
        ({"files": []}, "names no files"),
        ({"name": "Det/../x"}, "model name"),
        ({"version": "latest"}, "PEP 440"),
        ({"version": "v1"}, "normal form '1'"),
        ({"version": "1.0.00"}, "normal form '1.0.0'"),
        ({"task": "face_embedding", "runtime": "dlib"}, "embedding_space"),
        ({"card_format": 2}, "update the appliance"),
        ({"files": [{"name": "../model.tflite", "sha256": SHA, "size_bytes": 1}]}, "plain name"),
        ({"files": [{"name": "card.json", "sha256": SHA, "size_bytes": 1}]}, "plain name"),
        ({"files": [{"name": "m.tflite", "sha256": "AB" * 32, "size_bytes": 1}]}, "sha256"),
    ],
)
def test_bad_cards_are_refused_with_the_reason(changes: dict, message: str) -> None:
    with pytest.raises(ModelError, match="invalid model card") as info:
        decode_card(json.dumps(_card(**changes)), "store/det/1.0.0/card.json")
    assert message in str(info.value) and "store/det/1.0.0/card.json" in str(info.value)


def test_missing_required_fields_are_refused() -> None:
    data = _card()
    del data["license"]
    with pytest.raises(ModelError, match="license"):
        decode_card(json.dumps(data))
    with pytest.raises(ModelError, match="not JSON"):
        decode_card(b"{nope")


def test_versions_are_ordered_by_pep_440() -> None:
    versions = ["1.10.0", "1.9.0", "1.0.0rc1", "1.0.0", "2026.11.25", "1.0.0.post1"]
    assert sorted(versions, key=version_key) == ["1.0.0rc1", "1.0.0", "1.0.0.post1", "1.9.0", "1.10.0", "2026.11.25"]


def test_the_struct_is_frozen() -> None:
    card = decode_card(json.dumps(_card()))
    with pytest.raises(AttributeError):
        card.version = "2.0.0"  # type: ignore[misc]
    assert isinstance(card, ModelCard) and msgspec.structs.asdict(card)["version"] == "1.0.0"
