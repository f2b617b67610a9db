"""Build the offline installer: one archive that installs the appliance on a host with no package index.

    .venv/bin/python packaging/installer/build.py --root root.json --key alice.key --key bob.key \\
        --bundle-version 3 [--extras postgres,redis,onnx,systemd] [--out dist]

Run it with the Python of a checkout's `.venv` after `scripts/setup` with the extras to ship: the
third-party wheels are the versions installed there (dependency_lock.py), taken from pip's cache or
the package index, which only this build may reach. It writes
`<out>/appliance-installer-<version>-cp<XY>-<platform>.tar.gz` (docs/installer.md lists what is inside)
into a temporary file renamed at the end, so a failed build leaves no archive.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import time
import tomllib
from collections.abc import Iterable, Sequence
from pathlib import Path

from dependency_lock import (
    ClosureError,
    Distribution,
    installed_distribution,
    patch_environments,
    runtime_closure,
    wheel_distribution,
)
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name, parse_wheel_filename
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
APPLIANCE = canonicalize_name("liveness-appliance")
DEFAULT_EXTRAS = "postgres,redis,onnx,s3,systemd"
#: Installed with `pip install --no-deps` (the file says why).
NO_DEPS_REQUIREMENTS = REPO / "scripts" / "no-deps-requirements.txt"
#: Left out of the copy of the checkout wheels are built from (a build writes build/ and *.egg-info).
SOURCE_IGNORE = shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests", ".pytest_cache")
#: Shipped as they are: archive directory -> directory of the checkout.
UNITS = {"systemd": REPO / "packaging" / "systemd", "usb": REPO / "packaging" / "usb"}
DOCS = ("installer.md", "systemd.md", "updater.md")

#: A distribution and the wheel file that holds it.
Wheels = dict[NormalizedName, tuple[Distribution, Path]]


class BuildError(RuntimeError):
    """The archive cannot be built; the message says why in one line."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, required=True, help="the vendor's root of trust (root.json)")
    parser.add_argument("--key", type=Path, action="append", required=True, help="a release key (repeatable)")
    parser.add_argument("--bundle-version", type=int, required=True, help="the default bundle's version (grows)")
    parser.add_argument("--extras", default=DEFAULT_EXTRAS, help=f"the appliance's extras (default {DEFAULT_EXTRAS})")
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="where the archive goes (default dist/)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    extras = sorted({e.strip() for e in args.extras.split(",") if e.strip()})
    try:
        archive = build_archive(args.root, args.key, args.bundle_version, extras, args.out)
    except (BuildError, ClosureError) as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    size = archive.stat().st_size / 2**20
    print(f"built {archive} ({size:.0f} MiB) in {time.monotonic() - started:.0f} s")
    return 0


def build_archive(root: Path, keys: Sequence[Path], bundle_version: int, extras: Sequence[str], out: Path) -> Path:
    for path in (root, *keys):
        if not path.is_file():
            raise BuildError(f"no such file: {path}")
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    stem = f"appliance-installer-{version}-{platform_tag()}"
    with tempfile.TemporaryDirectory(prefix="appliance-installer-") as scratch:
        work = Path(scratch)
        stage = work / stem
        wheels = stage / "wheels"
        project = build_project_wheels(work / "sources", wheels)
        if project[APPLIANCE][0].version != version:
            raise BuildError(f"the appliance's wheel is version {project[APPLIANCE][0].version}, not {version}")
        third_party = third_party_wheels(project, extras, wheels, work / "fetched")
        no_deps = fetch_pinned(no_deps_pins(), wheels)
        write_lock(stage / "requirements.lock", {**project, **third_party}, "every distribution, installed together")
        write_lock(stage / "appliance.lock", project, "the appliance's own, reinstalled on an upgrade")
        write_lock(stage / "no-deps.lock", no_deps, f"installed with --no-deps ({NO_DEPS_REQUIREMENTS.name})")
        write_checksums(wheels)
        bundle_id = build_default_bundle(work / "bundle", root, keys, bundle_version, stage / "default.bundle")
        shutil.copyfile(root, stage / "root.json")
        copy_shipped_files(stage)
        (stage / "installer.env").write_text(
            f"APPLIANCE_VERSION={version}\nPYTHON_VERSION={sys.version_info[0]}.{sys.version_info[1]}\n"
            f"PLATFORM={sysconfig.get_platform()}\nEXTRAS={','.join(extras)}\n"
            f"BUNDLE_ID={bundle_id}\nBUNDLE_VERSION={bundle_version}\n"
        )
        return write_archive(stage, out / f"{stem}.tar.gz")


def platform_tag() -> str:
    """`cp311-linux_x86_64`: the wheels fit this Python's minor version and this platform only."""
    return f"cp{sys.version_info[0]}{sys.version_info[1]}-{sysconfig.get_platform().replace('-', '_')}"


# The appliance's own wheels -----------------------------------------------------------------------


def builtin_distributions() -> list[str]:
    """The built-in plugins and the updater, as scripts/builtin-distributions names them (`plugins/quality/`)."""
    return _run([str(REPO / "scripts" / "builtin-distributions")], "scripts/builtin-distributions").split()


def build_project_wheels(sources: Path, wheels: Path) -> Wheels:
    """The appliance's wheel and those of its built-in distributions, built from a copy of the checkout."""
    sources.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, sources / name)
    directories = ["appliance", *builtin_distributions()]
    for directory in directories:
        shutil.copytree(REPO / directory, sources / directory, ignore=SOURCE_IGNORE)
    projects = [sources, *(sources / d for d in directories[1:])]
    _pip("wheel", "--no-deps", "--wheel-dir", str(wheels), *map(str, projects))
    built = {}
    for wheel in wheels.glob("*.whl"):
        distribution = wheel_distribution(wheel)
        built[distribution.name] = (distribution, wheel)
    if APPLIANCE not in built or len(built) != len(projects):
        raise BuildError(f"pip built {sorted(built)} from {len(projects)} projects")
    return built


# Third-party wheels -------------------------------------------------------------------------------


def third_party_wheels(project: Wheels, extras: Sequence[str], wheels: Path, fetched: Path) -> Wheels:
    """A wheel of every third-party distribution in the runtime closure of the project's wheels."""
    unknown = set(extras) - set(project[APPLIANCE][0].extras)
    if unknown:
        raise BuildError(f"the appliance has no extra {', '.join(sorted(unknown))}")
    roots = [f"{APPLIANCE}[{','.join(extras)}]", *(name for name in project if name != APPLIANCE)]

    def find(requirement: Requirement, needed_here: bool) -> Distribution:
        name = canonicalize_name(requirement.name)
        if name in project:
            return project[name][0]
        installed = installed_distribution(name)
        if installed is not None:
            return installed
        if needed_here:
            raise ClosureError(
                f"{requirement} is needed but not installed in {sys.prefix}: run scripts/setup with the extras "
                f"to ship ({','.join(extras) or 'none'}), or leave an extra out with --extras"
            )
        # needed only on another patch release of this Python (its marker is false here): the newest wheel
        _pip("download", "--no-deps", "--only-binary=:all:", "--dest", str(fetched), f"{name}{requirement.specifier}")
        matches = [w for w in fetched.glob("*.whl") if parse_wheel_filename(w.name)[0] == name]
        if len(matches) != 1:
            raise BuildError(f"pip downloaded {len(matches)} wheels of {requirement}")
        return wheel_distribution(matches[0])

    closure = runtime_closure(roots, find, patch_environments())
    return fetch_pinned([d for name, d in sorted(closure.items()) if name not in project], wheels)


def no_deps_pins() -> list[Distribution]:
    """The distributions of scripts/no-deps-requirements.txt, each pinned with `==`."""
    pins = []
    for line in NO_DEPS_REQUIREMENTS.read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        requirement = Requirement(text)
        specifiers = list(requirement.specifier)
        if len(specifiers) != 1 or specifiers[0].operator != "==":
            raise BuildError(f"{NO_DEPS_REQUIREMENTS.name}: {text} is not pinned with ==")
        pins.append(Distribution(canonicalize_name(requirement.name), specifiers[0].version, ()))
    return pins


def fetch_pinned(pins: Sequence[Distribution], wheels: Path) -> Wheels:
    """A wheel of each `name==version` (from pip's cache, or the index; an sdist is built into a wheel)."""
    if not pins:
        return {}
    _pip("wheel", "--no-deps", "--wheel-dir", str(wheels), *(f"{p.name}=={p.version}" for p in pins))
    present = {}
    for wheel in wheels.glob("*.whl"):
        name, version, _, _ = parse_wheel_filename(wheel.name)
        present[name, version] = wheel
    found = {}
    for pin in pins:
        wheel = present.get((pin.name, Version(pin.version)))
        if wheel is None:
            raise BuildError(f"pip gave no wheel of {pin.name}=={pin.version}")
        found[pin.name] = (pin, wheel)
    return found


def write_lock(path: Path, wheels: Wheels, purpose: str) -> None:
    """A pip requirements file: `name==version --hash=sha256:...` per wheel."""
    lines = [f"# {purpose}: pip install --no-index --require-hashes -r {path.name} (install.sh)"]
    for name, (distribution, wheel) in sorted(wheels.items()):
        lines.append(f"{name}=={distribution.version} --hash=sha256:{_sha256(wheel)}")
    path.write_text("\n".join(lines) + "\n")


def write_checksums(wheels: Path) -> None:
    """`wheels/SHA256SUMS` in sha256sum's format: install.sh checks that every wheel is there and intact."""
    lines = [f"{_sha256(wheel)}  {wheel.name}" for wheel in sorted(wheels.glob("*.whl"))]
    (wheels / "SHA256SUMS").write_text("\n".join(lines) + "\n")


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


# The default model bundle -------------------------------------------------------------------------


def build_default_bundle(work: Path, root: Path, keys: Iterable[Path], version: int, out: Path) -> str:
    """The default models exported from this environment's wheels, built into a bundle signed by every
    key, and verified against `root` (its signature threshold) before it is shipped. Returns its id."""
    from appliance.runtime.default_export import export_default_store

    export = export_default_store(work / "export")
    _updater("build", export.store, "--out", out, "--version", str(version), *export.build_arguments())
    for key in keys:
        _updater("sign", out, "--key", key)
    appliance = ["--state-dir", work / "state", "--models-root", work / "models"]
    _updater("init", "--root", root, *appliance)
    _updater("verify", out, *appliance)
    return export.bundle_id


def _updater(*args: str | Path) -> str:
    program = Path(sys.executable).with_name("appliance-update")
    return _run([str(program), *map(str, args)], f"appliance-update {args[0]}")


# Assembly -----------------------------------------------------------------------------------------


def copy_shipped_files(stage: Path) -> None:
    """install.sh, the systemd and USB units, and the docs the units name."""
    shutil.copy2(HERE / "install.sh", stage / "install.sh")
    (stage / "install.sh").chmod(0o755)
    for directory, source in UNITS.items():
        shutil.copytree(source, stage / directory, ignore=SOURCE_IGNORE)
    (stage / "doc").mkdir()
    for name in DOCS:
        shutil.copyfile(REPO / "docs" / name, stage / "doc" / name)


def write_archive(stage: Path, archive: Path) -> Path:
    """`stage` as one top directory of a .tar.gz, owned by root, written whole or not at all."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.partial")

    def owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        return info

    try:
        # wheels are zip files already: the fastest level loses almost nothing
        with tarfile.open(partial, "w:gz", compresslevel=1) as tar:
            tar.add(stage, arcname=stage.name, filter=owned_by_root)
        partial.replace(archive)
    finally:
        partial.unlink(missing_ok=True)
    return archive


# Subprocesses -------------------------------------------------------------------------------------


def _pip(*args: str) -> str:
    return _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet", *args], f"pip {args[0]}")


def _run(command: list[str], what: str) -> str:
    proc = subprocess.run(command, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        last = (proc.stderr.strip() or proc.stdout.strip() or "no output").splitlines()[-1]
        raise BuildError(f"{what} failed (exit {proc.returncode}): {last}")
    return proc.stdout


if __name__ == "__main__":
    sys.exit(main())
