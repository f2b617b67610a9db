"""Signed model bundles made the way a vendor makes them: `appliance models export-defaults`, then
`appliance-update keygen / root-create / root-sign / build / sign`, all real commands."""

from __future__ import annotations

import shlex
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.live import REPO_ROOT, run_command

__all__ = ["VendorRelease", "flip_byte", "make_vendor_release", "run_updater", "updater_ok"]

UPDATER = Path(sys.executable).parent / "appliance-update"


def run_updater(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(UPDATER), *map(str, args)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def updater_ok(*args: str | Path) -> str:
    """Run `appliance-update ARGS`, which must succeed; its output."""
    proc = run_updater(*args)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _root(out: Path, keys: list[Path], threshold: int, version: int, signers: list[Path]) -> Path:
    pubs = [arg for key in keys for arg in ("--pub", key.with_suffix(".pub"))]
    updater_ok("root-create", *pubs, "--threshold", str(threshold), "--version", str(version), "--out", out)
    for key in signers:
        updater_ok("root-sign", out, "--key", key)
    return out


@dataclass(frozen=True)
class VendorRelease:
    """A vendor's three keys (2 of 3 sign), its root, and the `appliance-update build` command line
    `appliance models export-defaults` printed."""

    directory: Path
    keys: tuple[Path, ...]
    root: Path
    build: tuple[str, ...]

    @property
    def bundle_id(self) -> str:
        return self.build[self.build.index("--id") + 1]

    def bundle(self, version: int) -> Path:
        """The default bundle as `version`, signed by two of the three keys."""
        out = self.directory / f"defaults-v{version}.bundle"
        if not out.exists():
            build = list(self.build)
            build[build.index("--out") + 1] = str(out)
            build[build.index("--version") + 1] = str(version)
            updater_ok(*build)
            for key in self.keys[:2]:
                updater_ok("sign", out, "--key", key)
        return out

    def root_after(self, site_key: Path) -> Path:
        """This vendor's root as version 2 for a site whose root (version 1) lists only its site key:
        signed by the site key (the current root's threshold) and by the vendor's keys (its own)."""
        out = self.directory / "root-v2.json"
        return _root(out, list(self.keys), 2, 2, [*self.keys, site_key])


def make_vendor_release(directory: Path, env: dict[str, str]) -> VendorRelease:
    directory.mkdir(parents=True, exist_ok=True)
    export = run_command(env, "models", "export-defaults", "--out", str(directory / "defaults"))
    assert export.returncode == 0, export.stderr
    keys = []
    for name in ("alice", "bob", "carol"):
        updater_ok("keygen", "--out", directory / name)
        keys.append(directory / f"{name}.key")
    root = _root(directory / "root.json", keys, 2, 1, keys)
    build = shlex.split(export.stdout.splitlines()[-1].removeprefix("next: appliance-update "))
    return VendorRelease(directory, tuple(keys), root, tuple(build))


def flip_byte(bundle: Path, member: str, out: Path) -> Path:
    """A copy of `bundle` with one byte of `member`'s data changed (the manifest and signatures intact)."""
    with tarfile.open(bundle) as tar:
        offset = tar.getmember(member).offset_data + 100
    data = bytearray(bundle.read_bytes())
    data[offset] ^= 0xFF
    out.write_bytes(bytes(data))
    return out
