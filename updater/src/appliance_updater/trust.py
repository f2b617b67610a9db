"""The root of trust: `<state_dir>/root.json`, the keys allowed to sign bundles and how many must.

    {"signed": {"type": "appliance-updater-root", "version": 1, "threshold": 2,
                "keys": [{"keyid": "...", "public": "..."}, ...]},
     "signatures": [{"keyid": "...", "sig": "..."}, ...]}

The signatures are over the canonical JSON of "signed". A root is valid on its own when its own
threshold of its own keys signed it; a new root replaces the current one only when it is the next
version and is signed by the current root's threshold as well as its own (TUF's root rotation).
A key left out of the new root is revoked: its signatures no longer count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from appliance_updater.errors import UsageError, VerificationRefused
from appliance_updater.json_forms import canonical_json
from appliance_updater.keys import PrivateKey, PublicKey

__all__ = ["ROOT_TYPE", "Root", "count_valid", "require_threshold"]

ROOT_TYPE = "appliance-updater-root"
MAX_ROOT_BYTES = 512_000


@dataclass(frozen=True)
class Root:
    version: int
    threshold: int
    keys: dict[str, PublicKey]
    signatures: tuple[dict, ...] = ()

    # Building (vendor side) ---------------------------------------------------------------------

    @classmethod
    def create(cls, keys: list[PublicKey], threshold: int, version: int = 1) -> Root:
        root = cls(version, threshold, {k.keyid: k for k in keys})
        root._check()
        return root

    def signed(self) -> dict:
        return {
            "type": ROOT_TYPE,
            "version": self.version,
            "threshold": self.threshold,
            "keys": [self.keys[k].to_json() for k in sorted(self.keys)],
        }

    def signed_bytes(self) -> bytes:
        return canonical_json(self.signed())

    def sign(self, key: PrivateKey) -> Root:
        sigs = [s for s in self.signatures if s.get("keyid") != key.keyid]
        sigs.append(key.sign(self.signed_bytes()))
        return Root(self.version, self.threshold, self.keys, tuple(sigs))

    def to_json(self) -> dict:
        return {"signed": self.signed(), "signatures": list(self.signatures)}

    # Reading ------------------------------------------------------------------------------------

    @classmethod
    def from_bytes(cls, data: bytes, where: str = "root") -> Root:
        if len(data) > MAX_ROOT_BYTES:
            raise VerificationRefused(f"{where}: larger than {MAX_ROOT_BYTES} bytes")
        try:
            value = json.loads(data)
            signed, sigs = value["signed"], value["signatures"]
            if signed.get("type") != ROOT_TYPE:
                raise ValueError(f"type must be {ROOT_TYPE!r}")
            keys = [PublicKey.from_json(k) for k in signed["keys"]]
            version, threshold = signed["version"], signed["threshold"]
            if not isinstance(sigs, list) or not all(isinstance(s, dict) for s in sigs):
                raise ValueError("signatures must be a list of objects")
            root = cls(version, threshold, {k.keyid: k for k in keys}, tuple(sigs))
            if len(root.keys) != len(keys):
                raise ValueError("a key is listed twice")
            root._check()
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise VerificationRefused(f"{where}: not a valid root file: {exc}") from None
        if root.signed() != signed:
            raise VerificationRefused(f"{where}: unexpected fields in the signed part")
        return root

    @classmethod
    def load(cls, path: Path) -> Root:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError:
            raise UsageError(
                f"no root of trust at {path}; run `appliance-update init --root ROOT.json` first"
            ) from None
        return cls.from_bytes(data, str(path))

    def _check(self) -> None:
        if not isinstance(self.version, int) or isinstance(self.version, bool) or self.version < 1:
            raise ValueError("version must be an integer >= 1")
        if not isinstance(self.threshold, int) or isinstance(self.threshold, bool):
            raise ValueError("threshold must be an integer")
        if not 1 <= self.threshold <= len(self.keys):
            raise ValueError(f"threshold {self.threshold} must be between 1 and the number of keys ({len(self.keys)})")

    # Verifying ----------------------------------------------------------------------------------

    def verify_self(self, where: str = "root") -> None:
        require_threshold(self, self.signed_bytes(), self.signatures, f"{where} version {self.version}")

    def verify_successor(self, new: Root) -> None:
        """Refuse `new` unless it is the next version, signed by this root's threshold and its own."""
        if new.version != self.version + 1:
            raise VerificationRefused(
                f"new root has version {new.version}; the current root is version {self.version}, "
                f"so only version {self.version + 1} is accepted"
            )
        require_threshold(self, new.signed_bytes(), new.signatures, f"new root version {new.version} (old keys)")
        new.verify_self("new root")


def count_valid(root: Root, message: bytes, signatures: object) -> tuple[set[str], set[str]]:
    """(key ids of the root with a valid signature over `message`, key ids not in the root)."""
    valid: set[str] = set()
    unknown: set[str] = set()
    if not isinstance(signatures, (list, tuple)):
        return valid, unknown
    for sig in signatures:
        if not isinstance(sig, dict):
            continue
        keyid = sig.get("keyid")
        key = root.keys.get(keyid) if isinstance(keyid, str) else None
        if key is None:
            unknown.add(str(keyid))
        elif key.verifies(sig.get("sig"), message):
            valid.add(key.keyid)
    return valid, unknown


def require_threshold(root: Root, message: bytes, signatures: object, what: str) -> set[str]:
    """The key ids that signed; raises VerificationRefused below the root's threshold."""
    valid, unknown = count_valid(root, message, signatures)
    if len(valid) < root.threshold:
        extra = f"; signed by keys not in root version {root.version}: {', '.join(sorted(k[:16] for k in unknown))}"
        raise VerificationRefused(
            f"{what}: {len(valid)} valid signature(s) from trusted keys, {root.threshold} required"
            + (extra if unknown else "")
        )
    return valid
