"""The default model set as a directory a signed bundle is built from, with its canaries.

Two paths install the default models, both through the updater (docs/updater.md, "The default
model bundle"): a vendor runs `appliance models export-defaults --out DIR`, then builds and signs
a bundle of `DIR/store` with `appliance-update`; `appliance init` on a checkout does the same in a
temporary directory and signs with the site's own key. Either way the cards and files are the ones
`appliance.runtime.defaults` makes from the installed wheels, and every model gets a canary whose
expected outputs are computed here, with the real models.

    DIR/store/<name>/<version>/card.json + file    the layout `appliance-update build` reads
    DIR/store/<name>/active -> <version>
    DIR/canaries/<name>.json                        `appliance-update build --canary <name>=<file>`
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from appliance_modelstore.cards import ModelCard
from appliance_modelstore.store import ModelStore

from appliance.runtime.canary import make_canary
from appliance.runtime.defaults import default_cards
from appliance.runtime.errors import ModelError

__all__ = ["CANARY_ATOL", "CANARY_INPUT", "CANARY_RTOL", "DefaultExport", "default_bundle_id", "export_default_store"]

#: The canary input of every default model: numpy's default_rng(1) noise, the same on every machine.
CANARY_INPUT = "builtin:noise:1"
#: Tolerances of the default canaries: loose enough for another CPU's float kernels (XNNPACK, dlib's
#: BLAS), far tighter than any change of weights.
CANARY_ATOL = 1e-3
CANARY_RTOL = 1e-3
BUNDLE_ID_PREFIX = "defaults-"


@dataclass(frozen=True)
class DefaultExport:
    """What `export_default_store` wrote."""

    directory: Path
    cards: tuple[ModelCard, ...]
    canaries: dict[str, Path]
    bundle_id: str

    @property
    def store(self) -> Path:
        return self.directory / "store"

    def build_arguments(self) -> list[str]:
        """`--id` and one `--canary NAME=FILE` per model, for `appliance-update build`."""
        arguments = ["--id", self.bundle_id]
        for name, path in sorted(self.canaries.items()):
            arguments += ["--canary", f"{name}={path}"]
        return arguments


def default_bundle_id(cards: Sequence[ModelCard]) -> str:
    """`defaults-<12 hex>`: names the model set (names, versions, file hashes), so equal wheels give equal ids."""
    lines = sorted(f"{c.name} {c.version} {' '.join(f.sha256 for f in c.files)}" for c in cards)
    return BUNDLE_ID_PREFIX + hashlib.sha256("\n".join(lines).encode()).hexdigest()[:12]


def export_default_store(directory: Path) -> DefaultExport:
    """Write the default models and their canaries into `directory` (absent or empty).

    Everything is written into a temporary sibling first and renamed into place at the end, so a
    failure (a missing package, a model that does not load) leaves nothing behind.
    """
    directory = Path(directory)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise ModelError(f"{directory} exists and is not an empty directory; name a new one")
    built = default_cards()  # every package is checked before anything is written
    directory.parent.mkdir(parents=True, exist_ok=True)
    temp = directory.with_name(f".{directory.name}.tmp-{secrets.token_hex(6)}")
    try:
        store = ModelStore(temp / "store")
        for card, source in built:
            store.install(card, {source.name: source}, activate=True)
        (temp / "canaries").mkdir()
        for card, _ in built:
            canary = make_canary(store, card.name, CANARY_INPUT, CANARY_ATOL, CANARY_RTOL)
            (temp / "canaries" / f"{card.name}.json").write_text(json.dumps(canary) + "\n")
        if directory.exists():
            directory.rmdir()
        os.rename(temp, directory)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    cards = tuple(card for card, _ in built)
    return DefaultExport(
        directory=directory,
        cards=cards,
        canaries={card.name: directory / "canaries" / f"{card.name}.json" for card in cards},
        bundle_id=default_bundle_id(cards),
    )
