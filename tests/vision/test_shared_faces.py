"""The labelled faces of ../shared/data/faces: same identity close, different identities far;
multi-face images give MULTIPLE_FACES. Skipped when the shared data is absent."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from appliance.media.decode import load_image_rgb
from appliance.vision import Embedding, FaceReason, VisionService, distance, frame_reasons
from appliance.vision.quality import primary_index
from tests.support.shared_data import SHARED_DATA, SKIP_REASON

FACES = SHARED_DATA / "faces"

pytestmark = [pytest.mark.shared_data, pytest.mark.skipif(not FACES.is_dir(), reason=SKIP_REASON)]

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def _images(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.suffix.lower() in _IMAGE_SUFFIXES)


@pytest.fixture(scope="module")
def embeddings(vision: VisionService) -> dict[tuple[str, str], Embedding]:
    """(identity, file) -> embedding of the largest face, for every labelled image."""
    embedder = vision.embedder()
    found = {}
    for identity in sorted(p for p in FACES.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for path in _images(identity):
            rgb = load_image_rgb(path)
            faces = vision.detect(rgb)
            assert faces, f"no face found in {identity.name}/{path.name}"
            found[(identity.name, path.name)] = embedder.embed(rgb, faces[primary_index(faces) or 0])
    return found


def _pairs(embeddings: dict[tuple[str, str], Embedding], same: bool) -> np.ndarray:
    return np.array(
        [
            distance(ea, eb)
            for (a, ea), (b, eb) in itertools.combinations(embeddings.items(), 2)
            if (a[0] == b[0]) == same
        ]
    )


def test_every_labelled_image_has_a_face(embeddings: dict[tuple[str, str], Embedding]) -> None:
    assert len(embeddings) >= 40 and len({identity for identity, _ in embeddings}) >= 10


def test_same_identity_pairs_are_close(embeddings: dict[tuple[str, str], Embedding]) -> None:
    genuine = _pairs(embeddings, same=True)
    assert len(genuine) >= 100
    # measured on 188 photos of 37 identities (the tight crops included): 430 of 440 (97.7 %), the worst 0.71
    assert np.mean(genuine < 0.6) >= 0.95
    assert genuine.max() < 0.75


def test_different_identity_pairs_are_far(embeddings: dict[tuple[str, str], Embedding]) -> None:
    impostor = _pairs(embeddings, same=False)
    assert len(impostor) >= 1000
    # measured: 23 of 17,138 pairs (0.13 %) under dlib's 0.6, the closest 0.53 (lookalikes of one
    # region: the weakness of dlib's model that a stronger embedding is to fix)
    assert np.mean(impostor < 0.6) <= 0.005
    assert np.median(impostor) > 0.8


@pytest.mark.skipif(not (FACES / "_multi_face").is_dir(), reason=SKIP_REASON)
def test_group_photos_give_multiple_faces(vision: VisionService) -> None:
    for path in _images(FACES / "_multi_face"):
        assert frame_reasons(vision.detect(load_image_rgb(path))) == (FaceReason.MULTIPLE_FACES,), path.name
