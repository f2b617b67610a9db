"""The runtime closure of the appliance's distributions: every third-party distribution they need, pinned.

The offline installer ships a wheel of each (docs/installer.md). The closure is read from metadata,
never resolved afresh: the project's own wheels name their requirements, and each requirement is
answered by the distribution installed in the building environment (a checkout's `.venv`), so the
archive holds exactly the versions the test suite ran against.

A requirement's marker is evaluated for every patch release of the building Python's minor
version, not only for the building Python: the host that installs the archive may run another
patch (redis needs async-timeout below Python 3.11.3, and Debian 12's Python is 3.11.2). A
distribution needed only on another patch, hence not installed here, is asked of `fetch` (the
builder downloads its wheel); one needed here but missing is an error.
"""

from __future__ import annotations

import email.parser
import sys
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

__all__ = [
    "ClosureError",
    "Distribution",
    "installed_distribution",
    "patch_environments",
    "runtime_closure",
    "wheel_distribution",
]

#: Patch releases of one minor version whose markers are evaluated (3.11 had 14 by 2026).
PATCH_RELEASES = 30


class ClosureError(ValueError):
    """The building environment cannot answer the closure (a missing or mismatched distribution)."""


@dataclass(frozen=True, slots=True)
class Distribution:
    """A distribution's name (normalised), version, `Requires-Dist` lines and extras."""

    name: NormalizedName
    version: str
    requires: tuple[str, ...]
    extras: tuple[str, ...] = ()


#: Answers a requirement with a distribution: (requirement, needed by this very Python) -> distribution.
Finder = Callable[[Requirement, bool], Distribution]


def installed_distribution(name: str) -> Distribution | None:
    """The distribution installed in this Python's environment, or None."""
    try:
        found = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None
    extras = tuple(found.metadata.get_all("Provides-Extra") or ())
    return Distribution(canonicalize_name(found.metadata["Name"]), found.version, tuple(found.requires or ()), extras)


def wheel_distribution(wheel: Path) -> Distribution:
    """The distribution a wheel file holds, from its `*.dist-info/METADATA`."""
    with zipfile.ZipFile(wheel) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise ClosureError(f"{wheel.name} has no single .dist-info/METADATA")
        parsed = email.parser.BytesHeaderParser().parsebytes(archive.read(names[0]))
    return Distribution(
        canonicalize_name(parsed["Name"]),
        parsed["Version"],
        tuple(parsed.get_all("Requires-Dist", [])),
        tuple(parsed.get_all("Provides-Extra", [])),
    )


def patch_environments(version_info: Sequence[int] = sys.version_info) -> list[dict[str, str]]:
    """Marker environments that differ from this Python's only in `python_full_version`: every patch release."""
    major, minor = version_info[0], version_info[1]
    return [{"python_full_version": f"{major}.{minor}.{patch}"} for patch in range(PATCH_RELEASES)]


def runtime_closure(
    roots: Iterable[str], find: Finder, environments: Sequence[Mapping[str, str]]
) -> dict[NormalizedName, Distribution]:
    """Every distribution `roots` (requirement strings, extras included) need, themselves included.

    `find` answers each requirement once per distribution; the version it gives must satisfy every
    requirement naming that distribution. A requirement counts when its marker holds for this
    Python or for any of `environments`; `find` is told which.
    """
    found: dict[NormalizedName, Distribution] = {}
    extras_walked: dict[NormalizedName, frozenset[str]] = {}
    pending = [(Requirement(text), True) for text in roots]
    while pending:
        requirement, needed_here = pending.pop()
        name = canonicalize_name(requirement.name)
        if name not in found:
            found[name] = find(requirement, needed_here)
        distribution = found[name]
        if not requirement.specifier.contains(distribution.version, prereleases=True):
            raise ClosureError(f"{requirement} is needed, but the version at hand is {distribution.version}")
        extras = extras_walked.get(name)
        wanted = frozenset(canonicalize_name(e) for e in requirement.extras)
        if extras is not None and wanted <= extras:
            continue
        extras = extras_walked[name] = (extras or frozenset()) | wanted
        for text in distribution.requires:
            child = Requirement(text)
            here, anywhere = _marker_holds(child, extras, environments)
            if anywhere:
                pending.append((child, here and needed_here))
    return found


def _marker_holds(
    requirement: Requirement, extras: frozenset[str], environments: Sequence[Mapping[str, str]]
) -> tuple[bool, bool]:
    """(holds for this Python, holds for this Python or any of `environments`), with any of `extras` asked."""
    marker = requirement.marker
    if marker is None:
        return True, True
    contexts = ["", *sorted(extras)]
    here = any(marker.evaluate({"extra": extra}) for extra in contexts)
    anywhere = here or any(
        marker.evaluate({**environment, "extra": extra}) for environment in environments for extra in contexts
    )
    return here, anywhere
