"""Presentation attack detection measured as ISO/IEC 30107-3 does, on the shared data.

Bona fide: ../shared/data/pad/live (images and a video) and every face video in videos/ and
bench/. Attacks: pad/spoof, by type: print, screen/replay (the rest), unclear (SOURCES.md).
Three setups in the same run, through the QUALITY plugin's passive part (fusion.assess):

(a) model-free signals only (a fresh install);
(b) with the MiniFASNet bundle: Silent-Face's MiniFASNetV2 (2.7x crop) and MiniFASNetV1SE (4.0x crop),
    converted and installed by packaging/recipes/minifasnet.py from models/silentface_*.pth (the
    conversion needs the PyTorch of scripts/setup-convert);
(c) for comparison, the 128x128 MiniFASNet ONNX conversion (models/minifas_best_model.onnx) alone.

Prints, at the shipped liveness threshold (0.5): BPCER, APCER per attack type, ACER
(= (max APCER over types + BPCER) / 2), then DET points (APCER over all attacks vs BPCER) at a
few thresholds. A bona fide sample with no face found counts as rejected; an attack with no face
found counts as not accepted.

    .venv/bin/python bench/pad_eval.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from appliance_plugin_quality.fusion import assess  # noqa: E402

from appliance.sdk import AnalysisContext  # noqa: E402
from appliance.sdk.testing import default_models, media_input, vision_service  # noqa: E402

PRINT = {"pourfard_fake1.jpg", "silentface_image_F1.jpg"}
UNCLEAR = {"pourfard_person245.jpg"}
THRESHOLD = 0.5
DET_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def samples(data: Path) -> list[tuple[Path, str]]:
    """(file, kind) with kind bona_fide, print, screen or unclear."""
    items = [(p, "bona_fide") for p in sorted((data / "pad" / "live").iterdir())]
    items += [(p, "bona_fide") for p in sorted((data / "videos").glob("*.mp4"))]
    items += [(data / "bench" / "selfie720p_1mbps.mp4", "bona_fide")]
    for path in sorted((data / "pad" / "spoof").iterdir()):
        items.append((path, "print" if path.name in PRINT else "unclear" if path.name in UNCLEAR else "screen"))
    return items


def scores(store: Path, items: list[tuple[Path, str]], use_models: bool) -> list[tuple[str, float | None]]:
    """(kind, confidence_spoofing) per sample; None where no face was found."""
    out = []
    for path, kind in items:
        ctx = AnalysisContext({"liveness": THRESHOLD}, vision=vision_service(store))
        media = media_input(path)
        dict(ctx.frames(media, 16))
        out.append((kind, assess(ctx, media, ctx.faces(media), use_models=use_models).confidence_spoofing))
    return out


def rates(results: list[tuple[str, float | None]], threshold: float) -> dict[str, tuple[int, int]]:
    """(errors, total) per kind: bona fide rejected, attacks accepted."""
    table: dict[str, tuple[int, int]] = {}
    for kind, score in results:
        if kind == "bona_fide":
            wrong = score is None or score >= threshold
        else:
            wrong = score is not None and score < threshold
        errors, total = table.get(kind, (0, 0))
        table[kind] = (errors + int(wrong), total + 1)
    return table


def report(name: str, results: list[tuple[str, float | None]]) -> None:
    table = rates(results, THRESHOLD)
    bpcer = table["bona_fide"][0] / table["bona_fide"][1]
    apcer = {kind: e / t for kind, (e, t) in table.items() if kind != "bona_fide"}
    acer = (max(apcer.values()) + bpcer) / 2
    cells = "  ".join(f"APCER {k} {table[k][0]}/{table[k][1]} ({v:.0%})" for k, v in sorted(apcer.items()))
    print(f"{name}: BPCER {table['bona_fide'][0]}/{table['bona_fide'][1]} ({bpcer:.1%})  {cells}  ACER {acer:.1%}")
    points = []
    for t in DET_THRESHOLDS:
        tt = rates(results, t)
        attacks = [v for k, v in tt.items() if k != "bona_fide"]
        accepted, total = sum(e for e, _ in attacks), sum(n for _, n in attacks)
        points.append(f"t={t:.1f}: APCER {accepted / total:.0%} BPCER {tt['bona_fide'][0] / tt['bona_fide'][1]:.0%}")
    print("   DET " + "; ".join(points))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_data = os.environ.get("APPLIANCE_TEST_DATA") or str(REPO_ROOT.parent / "shared" / "data")
    parser.add_argument("--data", type=Path, default=Path(default_data))
    args = parser.parse_args()
    items = samples(args.data)
    kinds = {k: sum(1 for _, kk in items if kk == k) for k in ("bona_fide", "print", "screen", "unclear")}
    print(f"{len(items)} samples: {kinds}; threshold {THRESHOLD}\n")
    spec = importlib.util.spec_from_file_location(
        "minifasnet_recipe", REPO_ROOT / "packaging" / "recipes" / "minifasnet.py"
    )
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    weights = [
        args.data / "models" / f"silentface_{n}_80x80_MiniFASNetV{v}.pth" for n, v in (("2.7", "2"), ("4_0_0", "1SE"))
    ]
    with tempfile.TemporaryDirectory(prefix="appliance-pad-") as tmp:
        store = default_models(Path(tmp) / "models")
        report("(a) model-free signals     ", scores(store, items, use_models=False))
        if recipe.main([*(arg for w in weights for arg in ("--pth", str(w))), "--store", str(store), "--activate"]):
            sys.exit("pad_eval: the recipe could not install the Silent-Face pair (scripts/setup-convert?)")
        report("(b) MiniFASNet bundle (2x) ", scores(store, items, use_models=True))
        single = default_models(Path(tmp) / "single")
        recipe.install(args.data / "models" / "minifas_best_model.onnx", single, activate=True)
        report("(c) MiniFASNet 128 ONNX    ", scores(single, items, use_models=True))


if __name__ == "__main__":
    main()
