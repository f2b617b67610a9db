"""The liveness recipe: the PAD models and the fusion fitted on labelled media, into a signed bundle.

It runs on a small labelled set cut from the shared data (three sources: webcam photos with the
room around the face, and two sets of tight face crops), as a vendor runs it on theirs."""

from __future__ import annotations

import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import appliance_plugin_quality
import msgspec
import numpy as np
import pytest
from appliance_plugin_quality.cues import Cue, attack_above
from appliance_plugin_quality.fusion import FUSION_TASK, FusionModel

from appliance.core.liveness import liveness_models
from appliance.runtime import ModelStore
from appliance.sdk import AnalysisContext, Resolution
from appliance.sdk.testing import default_models, run_analyzer, spec_from_plugin, vision_service
from tests.support.recipes import load_recipe
from tests.support.shared_data import SHARED_DATA, SKIP_REASON

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [
    pytest.mark.shared_data,
    pytest.mark.skipif(not (SHARED_DATA / "manifest.csv").is_file(), reason=SKIP_REASON),
]
SOURCES = ("pourfard/FaceAntiSpoofing", "Krzysiek354/Python_Face_Detection", "lestari15/CNN-face-detection")
PER_CLASS = 5
ISSUED_AT = "2026-12-01T00:00:00Z"


recipe = load_recipe("liveness")
#: A live webcam photo, a printed photo and a live tight crop of the training sources, and a replay of
#: another source that the fusion fitted on them passes but whose PAD score no training live face had.
PHOTOS = (
    "live/pourfard_person90.jpg",
    "spoof/pourfard_fake2.jpg",
    "live/krzysiek354_real_0.png",
    "spoof/apfol_fake_236.png",
)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A labelled directory laid out as the shared data: PER_CLASS live and attack media of each of
    SOURCES, linked, with their manifest rows."""
    out = tmp_path_factory.mktemp("labelled")
    with open(SHARED_DATA / "manifest.csv", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields, rows = reader.fieldnames, list(reader)
    kept = []
    for source in SOURCES:
        for live in (True, False):
            chosen = [r for r in rows if r["repository"] == source and (r["label"] == "live") is live]
            chosen = [r for r in chosen if r["label"] == "live" or r["label"].startswith("spoof:")][:PER_CLASS]
            kept += chosen
    for row in kept:
        target = out / row["file"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(SHARED_DATA / row["file"])
    with open(out / "manifest.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields or [])
        writer.writeheader()
        writer.writerows(kept)
    return out


def _keys(directory: Path) -> Path:
    update = str(Path(sys.executable).with_name("appliance-update"))
    subprocess.run([update, "keygen", "--out", str(directory / "vendor")], check=True, capture_output=True)
    return directory / "vendor.key"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, labelled: Path) -> tuple[Path, Path, Path]:
    """(vendor store, bundle, key): the recipe's output."""
    work = tmp_path_factory.mktemp("vendor")
    key = _keys(work)
    store, bundle = work / "store", work / "liveness.bundle"
    args = ["--models", str(SHARED_DATA / "models"), "--data", str(labelled), "--store", str(store)]
    args += ["--bundle", str(bundle), "--key", str(key), "--issued-at", ISSUED_AT]
    assert recipe.main(args) == 0
    return store, bundle, key


def test_the_store_holds_the_fusion_and_the_pad_models_it_reads(built: tuple[Path, Path, Path]) -> None:
    store = ModelStore(built[0])
    card = store.card("liveness-fusion")
    assert (card.task, card.runtime, card.license) == (FUSION_TASK, "onnx", "Apache-2.0")
    params = card.params
    assert set(params["features"]) <= set(recipe.FEATURES) and params["features"]
    assert len(params["fill"]) == len(params["coefficients"]) == len(params["features"])
    assert params["trained"]["media"] == 2 * PER_CLASS * len(SOURCES) and params["trained"]["sources"] == 3
    # the figure to read before shipping: each source decided by what was fitted on the other two
    held_out = params["held_out"]
    assert held_out["sources"] == 3 and 0 <= held_out["bpcer"] <= 1
    assert held_out["apcer"] and set(held_out["apcer"]) <= {"print", "screen", "mask", "cutout", "unknown"}
    # its live envelope: a margin tried, and each edge on its cue's attack side
    envelope = params["envelope"]
    assert envelope["margin_iqr"] in recipe.ENVELOPE_MARGINS
    for edge in envelope["edges"]:
        assert edge["cue"] in recipe.FEATURES
        assert edge["outside"] == ("above" if attack_above(edge["cue"]) else "below")
    # the bundle carries the PAD models its fusion and its envelope read (at least one), and no other
    read = _pad_models_read(params)
    assert read and set(store.names()) == {"liveness-fusion", *read}
    for name in read:
        assert store.card(name).task == "presentation_attack"


def _pad_models_read(params: dict) -> set[str]:
    cues = [*params["features"], *(edge["cue"] for edge in params["envelope"]["edges"])]
    return {c.removeprefix("pad:") for c in cues if c.startswith("pad:")}


def test_every_published_pad_model_is_recognised_with_its_card(tmp_path: Path) -> None:
    prepared = {p.card.name: p.card for p in recipe.prepare_pad_models(SHARED_DATA / "models", tmp_path)}
    assert sorted(prepared) == ["minifasnet-v2se", "silentface-v1se-4.0", "silentface-v2-2.7", "syaringan-fas"]
    syaringan = prepared["syaringan-fas"]
    assert (syaringan.runtime, syaringan.license, syaringan.params["output"]) == ("litert", "MIT", "leaf_scores")
    assert syaringan.params["max_batch"] == 1 and syaringan.params["input_size"] == [256, 256]
    assert prepared["silentface-v2-2.7"].params["min_context"] == 0.5


def test_the_fusion_graph_is_the_regression_its_card_describes(built: tuple[Path, Path, Path], labelled: Path) -> None:
    models = default_models(built[0].parent / "with-defaults")
    for name in ModelStore(built[0]).names():
        target = models / name
        if not target.exists():
            target.symlink_to(built[0] / name, target_is_directory=True)
    vision = vision_service(models)
    ctx = AnalysisContext({"liveness": 0.5}, vision=vision)
    (handle,) = ctx.models(FUSION_TASK)
    fusion = FusionModel.of(handle)
    rng = np.random.default_rng(5)
    for _ in range(5):
        named = {f: Cue(f, value + float(rng.normal())) for f, value in zip(fusion.features, fusion.fill, strict=True)}
        expected = sum(fusion.terms(named).values()) + fusion.intercept
        assert fusion.attack_logit(named) == pytest.approx(expected, rel=1e-5, abs=1e-3)  # float32 in the graph


def test_quality_decides_with_the_fusion_once_the_bundle_is_installed(
    built: tuple[Path, Path, Path], tmp_path: Path, default_models_root: Path
) -> None:
    """Site side: the updater installs the bundle on the default models (canaries run by the appliance);
    QUALITY then decides by the fusion: its confidence is the logistic of the card's regression over
    the cues the result reports. (A fusion fitted on 30 media decides little else: bench/pad_eval.py
    measures the real one.)"""
    update = str(Path(sys.executable).with_name("appliance-update"))
    _, bundle, key = built
    site = tmp_path / "models"
    shutil.copytree(default_models_root, site, symlinks=True)
    env = {**os.environ, "APPLIANCE_UPDATER_STATE_DIR": str(tmp_path / "state"), "APPLIANCE_MODELS_ROOT": str(site)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    root = tmp_path / "root.json"
    pub = key.with_suffix(".pub")
    subprocess.run([update, "root-create", "--pub", str(pub), "--threshold", "1", "--out", str(root)], check=True)
    subprocess.run([update, "root-sign", str(root), "--key", str(key)], check=True, capture_output=True)
    subprocess.run([update, "init", "--root", str(root)], check=True, capture_output=True, env=env)
    installed = subprocess.run([update, "install", str(bundle)], capture_output=True, text=True, env=env, check=False)
    assert installed.returncode == 0, installed.stderr

    spec = spec_from_plugin(appliance_plugin_quality, "QUALITY")
    params = ModelStore(site).card("liveness-fusion").params
    # the site reads the error rates the recipe measured on sources held out (doctor, /api/version)
    assert msgspec.to_builtins(liveness_models(ModelStore(site)).held_out) == params["held_out"]
    edges = params["envelope"]["edges"]
    outcomes = set()
    for name in PHOTOS:
        path = SHARED_DATA / "pad" / name
        outcome = run_analyzer(spec, [(path, ["photo_selfie"])], models=site)
        passive = outcome.results_media[0].results_data["passive"]
        assert passive["decided_by"] == "fusion:liveness-fusion@1.0.0"
        # only the PAD models the fusion reads run
        assert {d["name"] for d in passive["pad_models"]} == _pad_models_read(params)
        assert outcome.model_versions["liveness-fusion"] == "1.0.0"
        logit = params["intercept"] + sum(
            c * (passive["cues"][f]["value"] - fill) if f in passive["cues"] else 0.0
            for f, c, fill in zip(params["features"], params["coefficients"], params["fill"], strict=True)
        )
        assert passive["confidence_spoofing"] == pytest.approx(1 / (1 + np.exp(-logit)), abs=2e-3)
        attack = passive["confidence_spoofing"] >= 0.5
        cues = passive["cues"]
        past = [
            e["cue"]
            for e in edges
            if e["cue"] in cues
            and (
                cues[e["cue"]]["value"] > e["edge"] if e["outside"] == "above" else cues[e["cue"]]["value"] < e["edge"]
            )
        ]
        assert [o["cue"] for o in passive["outside_live_envelope"]] == past
        reasons = outcome.results_media[0].results_data["operator_reasons"]
        assert ("outside_live_envelope" in reasons) is bool(past)
        expected = Resolution.DECLINED if attack else Resolution.OPERATOR_REQUIRED if past else Resolution.SUCCESS
        assert outcome.resolution is expected
        outcomes.add(expected)
    # the photos cover each way a face is decided: passed, declined, and sent to an operator past the envelope
    assert outcomes == {Resolution.SUCCESS, Resolution.DECLINED, Resolution.OPERATOR_REQUIRED}


def test_the_same_inputs_give_the_same_bundle_bytes(
    built: tuple[Path, Path, Path], labelled: Path, tmp_path: Path
) -> None:
    _, bundle, key = built
    again = tmp_path / "again.bundle"
    args = ["--models", str(SHARED_DATA / "models"), "--data", str(labelled), "--store", str(tmp_path / "store")]
    args += ["--bundle", str(again), "--key", str(key), "--issued-at", ISSUED_AT]
    assert recipe.main(args) == 0
    assert again.read_bytes() == bundle.read_bytes()


def test_labelled_media_that_are_not_there_stop_the_recipe_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "manifest.csv").write_text("file,category,label,repository\npad/live/none.jpg,pad,live,x\n")
    args = ["--models", str(SHARED_DATA / "models"), "--data", str(tmp_path / "data"), "--store", str(tmp_path / "s")]
    assert recipe.main(args) == 1
    error = capsys.readouterr().err.strip()
    assert error.startswith("liveness: ") and "names no live or spoof media" in error and "\n" not in error
    assert not (tmp_path / "s").exists()


def test_read_samples_takes_labels_and_sources_from_the_manifest(labelled: Path) -> None:
    samples = recipe.read_samples(labelled)
    assert {s.source for s in samples} == set(SOURCES)
    assert {"live", "screen"} <= {s.label for s in samples} <= {"live", "screen", "print", "unknown"}
    assert sum(not s.is_attack for s in samples) == PER_CLASS * len(SOURCES)


def test_the_bench_scores_a_labelled_set_with_the_bundle_as_shipped(
    built: tuple[Path, Path, Path], labelled: Path, default_models_root: Path, tmp_path: Path
) -> None:
    """bench/pad_eval.py --frozen: the shipped store's own decisions on another labelled set, its last
    line the one a reviewer reads. (Here the set is the one it was fitted on: the figure means nothing,
    the tables and the line are what is checked.)"""
    shipped = tmp_path / "shipped"
    shutil.copytree(default_models_root, shipped, symlinks=True)
    for name in ModelStore(built[0]).names():
        shutil.copytree(built[0] / name, shipped / name, symlinks=True)
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "pad_eval.py"),
            "--data",
            str(labelled),
            "--frozen",
            "--store",
            str(shipped),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert "decided by ['fusion:liveness-fusion@1.0.0']" in done.stdout
    assert "| shipped bundle | all |" in done.stdout and "### Per source" in done.stdout
    assert re.fullmatch(r"PAD frozen: BPCER \d+\.\d% APCER max \d+\.\d% \(\w+\) ACER \d+\.\d%", lines[-1]), lines[-1]


def test_synthetic_faces_are_read_apart_and_never_fitted_on(tmp_path: Path) -> None:
    media = tmp_path / "pad"
    media.mkdir()
    for name in ("a.jpg", "b.jpg", "c.jpg", "d.jpg"):
        (media / name).write_bytes(b"")
    (tmp_path / "manifest.csv").write_text(
        "file,category,label,repository\n"
        "pad/a.jpg,pad,live,x\npad/b.jpg,pad,spoof:deepfake,x\npad/c.jpg,pad,synthetic,y\npad/d.jpg,face,Ada Lovelace,y\n"
    )
    samples = recipe.read_samples(tmp_path)
    assert [(s.name, s.label, s.is_synthetic) for s in samples] == [
        ("pad/a.jpg", "live", False),
        ("pad/b.jpg", "deepfake", True),
        ("pad/c.jpg", "synthetic", True),
    ]
