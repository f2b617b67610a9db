"""`<models_root>/.bundle.json`: the signed bundle whose models are active (docs/model-store.md).

The updater writes it after every install, rollback and recovery; the appliance reads it, to report
which bundle each host runs. It is informational: which versions run is decided by the `active`
links alone.
"""

from __future__ import annotations

import msgspec

__all__ = ["MARKER_FORMAT", "ActiveBundle", "decode_marker", "encode_marker"]

#: The format of `.bundle.json` this code writes.
MARKER_FORMAT = 1


class ActiveBundle(msgspec.Struct, kw_only=True, frozen=True):
    """The bundle whose models are active; `bundle_id` None after a rollback to no bundle."""

    bundle_id: str | None
    bundle_version: int | None = None
    manifest_sha256: str | None = None
    #: The bundle's models and the versions it made active.
    models: dict[str, str] = {}
    #: When it was installed (ISO 8601, UTC).
    installed_at: str | None = None


def encode_marker(bundle: ActiveBundle) -> bytes:
    """`.bundle.json`'s bytes: indented JSON, its format first."""
    body = {"format": MARKER_FORMAT, **msgspec.structs.asdict(bundle)}
    return msgspec.json.format(msgspec.json.encode(body), indent=2) + b"\n"


def decode_marker(data: bytes) -> ActiveBundle | None:
    """The bundle a `.bundle.json` names, or None: no bundle (null id), or a file that is not a
    marker (it is informational: an unreadable one never decides what runs)."""
    try:
        bundle = msgspec.json.decode(data, type=ActiveBundle)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return None
    return bundle if bundle.bundle_id else None
