"""Quadlet files turned into the systemd services they stand for, for `systemd-analyze verify`.

Podman's Quadlet generator (`/usr/libexec/podman/quadlet`, podman 4.4 and newer) does this on a
host that has it. Podman 4.3, Debian 12's, has none: there `render_units` does what the generator
does for the keys the appliance's files use (each key becomes the `podman run`, `podman volume
create` or `podman network create` option it stands for, volumes and networks named
`systemd-<name>` and required by the containers that use them), refuses keys Quadlet does not
know, and refuses keys it knows but this renderer does not, so that no key is silently dropped.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["QUADLET_GENERATOR", "UnitFile", "generate_units", "parse_unit", "render_units"]

QUADLET_GENERATOR = Path("/usr/libexec/podman/quadlet")
PODMAN = "/usr/bin/podman"

#: The keys podman 4.x's Quadlet accepts in each of its sections (pkg/systemd/quadlet).
QUADLET_KEYS: dict[str, frozenset[str]] = {
    "Container": frozenset(
        "AddCapability AddDevice Annotation AutoUpdate ContainerName ContainersConfModule DNS DNSOption DNSSearch "
        "DropCapability Environment EnvironmentFile EnvironmentHost Entrypoint Exec ExposeHostPort GIDMap GlobalArgs "
        "Group HealthCmd HealthInterval HealthOnFailure HealthRetries HealthStartPeriod HealthStartupCmd "
        "HealthStartupInterval HealthStartupRetries HealthStartupSuccess HealthStartupTimeout HealthTimeout HostName "
        "IP IP6 Image Label LogDriver Mask Mount Network NoNewPrivileges Notify PidsLimit Pod PodmanArgs PublishPort "
        "Pull ReadOnly ReadOnlyTmpfs RemapGid RemapUid RemapUidSize RemapUsers Rootfs RunInit SeccompProfile Secret "
        "SecurityLabelDisable SecurityLabelFileType SecurityLabelLevel SecurityLabelNested SecurityLabelType "
        "ShmSize StopTimeout SubGIDMap SubUIDMap Sysctl Timezone Tmpfs UIDMap Ulimit Unmask User UserNS "
        "VolatileTmp Volume WorkingDir".split()
    ),
    "Volume": frozenset(
        "ContainersConfModule Copy Device Driver GlobalArgs Group Image Label Options PodmanArgs Type User "
        "VolumeName".split()
    ),
    "Network": frozenset(
        "Label DNS ContainersConfModule GlobalArgs DisableDNS Driver Gateway IPAMDriver IPRange IPv6 Internal "
        "NetworkName Options Subnet PodmanArgs".split()
    ),
}
#: The Quadlet section of each kind of file.
SECTIONS = {".container": "Container", ".volume": "Volume", ".network": "Network"}
#: Sections systemd itself reads; Quadlet passes them on.
SYSTEMD_SECTIONS = frozenset({"Unit", "Service", "Install"})
#: `podman run` options of the Container keys this renderer knows: each value is one option.
_RUN_OPTIONS = {
    "ContainerName": "--name",
    "Environment": "--env",
    "PublishPort": "--publish",
    "Label": "--label",
    "HealthCmd": "--health-cmd",
    "HealthInterval": "--health-interval",
    "HealthTimeout": "--health-timeout",
    "HealthRetries": "--health-retries",
    "HealthStartPeriod": "--health-start-period",
    "HealthOnFailure": "--health-on-failure",
}


@dataclass
class UnitFile:
    """A systemd-style unit file: its sections, each a list of (key, value) in file order."""

    path: Path
    sections: dict[str, list[tuple[str, str]]] = field(default_factory=dict)

    def values(self, section: str, key: str) -> list[str]:
        return [v for k, v in self.sections.get(section, []) if k == key]

    @property
    def kind(self) -> str:
        return SECTIONS[self.path.suffix]


def parse_unit(path: Path) -> UnitFile:
    """Read a unit file as systemd does: comments (# ;), [Section], Key=Value, backslash continuations.

    Raises ValueError for a line that is none of these.
    """
    unit = UnitFile(path)
    section: str | None = None
    logical = ""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        logical += line.strip()
        if logical.endswith("\\"):
            logical = logical[:-1] + " "
            continue
        text, logical = logical, ""
        if not text or text[0] in "#;":
            continue
        if match := re.fullmatch(r"\[([A-Za-z0-9-]+)\]", text):
            section = match.group(1)
            unit.sections.setdefault(section, [])
        elif "=" in text and section is not None:
            key, value = (part.strip() for part in text.split("=", 1))
            unit.sections[section].append((key, value))
        else:
            raise ValueError(f"{path.name}:{number}: not a section, a key=value line or a comment: {text!r}")
    return unit


def check_quadlet_keys(unit: UnitFile) -> None:
    """Raise ValueError for a section Quadlet does not pass on or a key it does not accept."""
    for section, entries in unit.sections.items():
        if section not in SYSTEMD_SECTIONS | {unit.kind}:
            raise ValueError(f"{unit.path.name}: section [{section}] is neither systemd's nor [{unit.kind}]")
        if section == unit.kind:
            for key, _ in entries:
                if key not in QUADLET_KEYS[section]:
                    raise ValueError(f"{unit.path.name}: unsupported key '{key}' in group '{section}'")


def _resource_name(reference: str, suffix: str) -> str | None:
    """`systemd-NAME` for a reference to NAME.volume / NAME.network; None for a plain name."""
    return f"systemd-{reference.removesuffix(suffix)}" if reference.endswith(suffix) else None


def _service_name(reference: str, suffix: str) -> str:
    return f"{reference.removesuffix(suffix)}-{suffix.lstrip('.')}.service"


def _systemd_quote(argument: str) -> str:
    """One ExecStart= argument: double-quoted (with \\ and " escaped) when it holds blanks or quotes."""
    if argument and not re.search(r"[\s\"'\\]", argument):
        return argument
    return '"' + argument.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _render_container(unit: UnitFile) -> tuple[list[str], list[str]]:
    """(`podman run` arguments, services it requires) of a .container file."""
    options: list[str] = []
    required: list[str] = []
    image, command = "", []
    for key, value in unit.sections["Container"]:
        if key == "Image":
            image = value
        elif key == "Exec":
            command = shlex.split(value)
        elif key == "PodmanArgs":
            options += shlex.split(value)
        elif key in ("Volume", "Network"):
            suffix = f".{key.lower()}"
            source, _, rest = value.partition(":")
            if (name := _resource_name(source, suffix)) is not None:
                required.append(_service_name(source, suffix))
                source = name
            options += [f"--{key.lower()}", source + (f":{rest}" if rest else "")]
        elif key in _RUN_OPTIONS:
            options += [_RUN_OPTIONS[key], value]
        else:
            raise ValueError(f"{unit.path.name}: the test's Quadlet renderer does not know '{key}'; teach it")
    if not image:
        raise ValueError(f"{unit.path.name}: no Image key specified")
    run = [PODMAN, "run", "--cidfile=%t/%N.cid", "--replace", "--rm", "--cgroups=split", "--sdnotify=conmon", "-d"]
    return [*run, *options, image, *command], required


def _render_resource(unit: UnitFile) -> list[str]:
    """`podman volume create` or `podman network create` of a .volume or .network file."""
    options: list[str] = []
    for key, value in unit.sections[unit.kind]:
        if key != "Label":
            raise ValueError(f"{unit.path.name}: the test's Quadlet renderer does not know '{key}'; teach it")
        options += ["--label", value]
    return [PODMAN, unit.kind.lower(), "create", "--ignore", *options, f"systemd-{unit.path.stem}"]


def _service_text(unit: UnitFile) -> str:
    """The .service a Quadlet file stands for."""
    systemd = {name: list(unit.sections.get(name, [])) for name in ("Unit", "Service", "Install")}
    systemd["Unit"].append(("RequiresMountsFor", "%t/containers"))
    systemd["Service"].append(("SyslogIdentifier", "%N"))
    if unit.kind == "Container":
        command, required = _render_container(unit)
        for service in required:
            systemd["Unit"] += [("Requires", service), ("After", service)]
        systemd["Service"] += [
            ("Environment", "PODMAN_SYSTEMD_UNIT=%n"),
            ("KillMode", "mixed"),
            ("Delegate", "yes"),
            ("Type", "notify"),
            ("NotifyAccess", "all"),
            ("ExecStop", f"{PODMAN} rm -f -i --cidfile=%t/%N.cid"),
            ("ExecStopPost", f"-{PODMAN} rm -f -i --cidfile=%t/%N.cid"),
        ]
    else:
        command = _render_resource(unit)
        systemd["Service"] += [("Type", "oneshot"), ("RemainAfterExit", "yes")]
    systemd["Service"].append(("ExecStart", " ".join(map(_systemd_quote, command))))
    return "\n".join(
        f"[{name}]\n" + "".join(f"{key}={value}\n" for key, value in entries)
        for name, entries in systemd.items()
        if entries
    )


def render_units(source: Path, destination: Path) -> list[Path]:
    """Write into `destination` the service of every Quadlet file in `source`; their paths."""
    written = []
    for path in sorted(p for p in source.iterdir() if p.suffix in SECTIONS):
        unit = parse_unit(path)
        check_quadlet_keys(unit)
        suffix = "" if unit.kind == "Container" else f"-{unit.kind.lower()}"
        target = destination / f"{path.stem}{suffix}.service"
        target.write_text(_service_text(unit))
        written.append(target)
    return written


def generate_units(source: Path, destination: Path) -> list[Path]:
    """The services of the Quadlet files in `source`, written into `destination`: by podman's own
    generator where this host has it, else by `render_units`. Raises ValueError when refused."""
    if not QUADLET_GENERATOR.exists():
        return render_units(source, destination)
    result = subprocess.run(
        [str(QUADLET_GENERATOR), "-no-kmsg-log", str(destination)],
        env={**os.environ, "QUADLET_UNIT_DIRS": str(source)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    if result.returncode != 0 or result.stderr.strip():
        raise ValueError(f"quadlet refused {source}: {result.stderr.strip()}")
    return sorted(destination.glob("*.service"))
