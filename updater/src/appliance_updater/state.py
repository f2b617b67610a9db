"""What the updater keeps in its state directory, typed: `state.json` (the committed state) and
`install.json` (the journal of a switch in progress). docs/updater.md, "Files on the appliance"."""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

import msgspec
from appliance_modelstore.marker import ActiveBundle

from appliance_updater.json_forms import pretty_json

__all__ = [
    "STATE_FORMAT",
    "Compatibility",
    "InstalledBundle",
    "Journal",
    "LastInstall",
    "SwitchKind",
    "UpdaterState",
    "decode",
    "encode",
]

#: The format of `state.json` this code writes.
STATE_FORMAT = 1

S = TypeVar("S", bound=msgspec.Struct)


class Compatibility(msgspec.Struct, kw_only=True, frozen=True):
    """The product and model ABIs this appliance runs: a bundle must be for them."""

    product: str
    runtime_abi: list[str]


class InstalledBundle(msgspec.Struct, kw_only=True, frozen=True):
    """The bundle last installed (the highest version seen: older ones are replays)."""

    id: str
    version: int
    manifest_sha256: str


class LastInstall(msgspec.Struct, kw_only=True, frozen=True):
    """The last install, which `rollback` undoes once."""

    bundle_id: str
    bundle_version: int
    old: dict[str, str | None]
    new: dict[str, str]
    at: str
    rolled_back: bool = False
    #: The bundle active before it: what `.bundle.json` names again after a rollback.
    previous_bundle: ActiveBundle | None = None


class UpdaterState(msgspec.Struct, kw_only=True, frozen=True):
    """`state.json`. Its atomic replacement, carrying a switch's `txid`, is that switch's commit point."""

    format: int = STATE_FORMAT
    compatible: Compatibility
    bundle: InstalledBundle | None = None
    #: The highest version of each model ever installed (a lower one is a downgrade).
    models: dict[str, str] = {}
    last: LastInstall | None = None
    txid: str | None = None


class SwitchKind(StrEnum):
    """What a journalled switch does."""

    INSTALL = "install"
    ROLLBACK = "rollback"
    ACTIVATE = "activate"


class Journal(msgspec.Struct, kw_only=True, frozen=True):
    """`install.json`: a switch in progress, from the versions `old` to `new` (None: no active version)."""

    kind: SwitchKind
    txid: str
    bundle_id: str | None
    old: dict[str, str | None]
    new: dict[str, str | None]


def encode(value: msgspec.Struct) -> bytes:
    """A state file's bytes: indented JSON, as the technician reads it."""
    return pretty_json(msgspec.to_builtins(value))


def decode(data: bytes, kind: type[S]) -> S:
    """A state file of type `kind`; ValueError when it is not one."""
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ValueError(str(exc)) from None
