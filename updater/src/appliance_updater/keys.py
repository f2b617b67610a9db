"""Ed25519 keys: files, key ids, signing and checking signatures.

A key id is the sha256 (hex) of the raw 32-byte public key, so a key cannot be listed under
another key's id. Private key files are JSON, mode 0600, and never leave the vendor's signing host.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance_updater.errors import UsageError

__all__ = ["PrivateKey", "PublicKey", "generate", "key_id", "load_private", "load_public"]

_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX128 = re.compile(r"[0-9a-f]{128}")


def key_id(public_raw: bytes) -> str:
    return hashlib.sha256(public_raw).hexdigest()


@dataclass(frozen=True)
class PublicKey:
    keyid: str
    public: str  # 64 hex digits, the raw Ed25519 public key

    @classmethod
    def from_json(cls, value: object) -> PublicKey:
        if not isinstance(value, dict):
            raise ValueError("a key must be an object with keyid and public")
        keyid, public = value.get("keyid"), value.get("public")
        if not isinstance(public, str) or not _HEX64.fullmatch(public):
            raise ValueError("a key's public must be 64 lowercase hex digits")
        if keyid != key_id(bytes.fromhex(public)):
            raise ValueError(f"key id {keyid!r} is not the sha256 of its public key")
        return cls(keyid, public)

    def to_json(self) -> dict[str, str]:
        return {"keyid": self.keyid, "public": self.public}

    def verifies(self, signature_hex: object, message: bytes) -> bool:
        if not isinstance(signature_hex, str) or not _HEX128.fullmatch(signature_hex):
            return False
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public)).verify(bytes.fromhex(signature_hex), message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class PrivateKey:
    keyid: str
    seed: bytes

    @property
    def public(self) -> PublicKey:
        raw = Ed25519PrivateKey.from_private_bytes(self.seed).public_key().public_bytes_raw()
        return PublicKey(key_id(raw), raw.hex())

    def sign(self, message: bytes) -> dict[str, str]:
        """A signature entry: {"keyid", "sig"} with the signature as 128 hex digits."""
        return {"keyid": self.keyid, "sig": Ed25519PrivateKey.from_private_bytes(self.seed).sign(message).hex()}


def generate() -> PrivateKey:
    seed = Ed25519PrivateKey.generate().private_bytes_raw()
    raw = Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw()
    return PrivateKey(key_id(raw), seed)


def save_keypair(key: PrivateKey, prefix: Path) -> tuple[Path, Path]:
    """Write `<prefix>.key` (private, 0600) and `<prefix>.pub`; refuses to overwrite."""
    private_path, public_path = prefix.with_name(prefix.name + ".key"), prefix.with_name(prefix.name + ".pub")
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} exists; choose another name")
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"keyid": key.keyid, "private": key.seed.hex(), "public": key.public.public}, fh, indent=2)
        fh.write("\n")
    public_path.write_text(json.dumps(key.public.to_json(), indent=2) + "\n")
    return private_path, public_path


def load_private(path: Path) -> PrivateKey:
    try:
        value = json.loads(Path(path).read_text())
        seed = bytes.fromhex(value["private"])
        key = PrivateKey(value["keyid"], seed)
        if len(seed) != 32 or key.public.keyid != key.keyid:
            raise ValueError("the key id does not match the key")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(f"cannot read private key {path}: {exc}") from None
    return key


def load_public(path: Path) -> PublicKey:
    try:
        return PublicKey.from_json(json.loads(Path(path).read_text()))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read public key {path}: {exc}") from None
