"""The model updater as the appliance uses it: a separate program, `appliance-update`, run as a subprocess.

The updater (its own distribution, docs/updater.md) imports nothing of the appliance, and the
appliance imports nothing of it: `appliance init` and `appliance models activate` drive it through
its command line, and `appliance doctor` reads the files it documents. This module names those
files and runs the command.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BUSY_EXIT_CODE",
    "CANARY_COMMAND",
    "JOURNAL_FILE",
    "ROOT_FILE",
    "SITE_KEY_PREFIX",
    "UpdaterCommand",
    "UpdaterFailed",
    "journal_path",
    "site_key_path",
    "site_public_key_path",
]

UPDATER_PROGRAM = "appliance-update"
#: `<state_dir>/root.json`: the root of trust.
ROOT_FILE = "root.json"
#: `<state_dir>/install.json`: the journal of a model switch, there only while one runs or after a crash cut it.
JOURNAL_FILE = "install.json"
#: The exit status of `appliance-update` when another one holds its lock.
BUSY_EXIT_CODE = 6
#: `appliance-update keygen --out <state_dir>/site` writes `site.key` (0600) and `site.pub`.
SITE_KEY_PREFIX = "site"
#: The canary command the updater runs when the appliance installs a bundle: this Python's appliance,
#: whether or not `appliance` is on PATH.
CANARY_COMMAND = shlex.join([sys.executable, "-m", "appliance.cli", "models", "canary"])


def journal_path(state_dir: Path) -> Path:
    return Path(state_dir) / JOURNAL_FILE


def site_key_path(state_dir: Path) -> Path:
    return Path(state_dir) / f"{SITE_KEY_PREFIX}.key"


def site_public_key_path(state_dir: Path) -> Path:
    return Path(state_dir) / f"{SITE_KEY_PREFIX}.pub"


class UpdaterFailed(ValueError):
    """`appliance-update` refused or failed; the message is its own one-line reason."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    @property
    def reason(self) -> str:
        """The reason without the program's name in front (`appliance-update: `)."""
        return str(self).removeprefix(f"{UPDATER_PROGRAM}: ")


@dataclass(frozen=True)
class UpdaterCommand:
    """`appliance-update` for one appliance: its state directory and model store."""

    program: str
    state_dir: Path
    models_root: Path

    @classmethod
    def locate(cls, state_dir: Path, models_root: Path) -> UpdaterCommand:
        """The `appliance-update` next to this Python (its venv's bin), else the one on PATH."""
        beside = Path(sys.executable).parent / UPDATER_PROGRAM
        program = str(beside) if beside.is_file() else shutil.which(UPDATER_PROGRAM)
        if program is None:
            raise UpdaterFailed(
                f"{UPDATER_PROGRAM} is not installed (neither beside {sys.executable} nor on PATH): "
                "run scripts/setup, or pip install the updater/ distribution",
                2,
            )
        return cls(program, Path(state_dir), Path(models_root))

    def vendor(self, *args: str | Path) -> list[str]:
        """A command that needs no appliance (keygen, root-create, root-sign, build, sign); its output lines."""
        return self._run([str(a) for a in args])

    def appliance(self, command: str, *args: str | Path) -> list[str]:
        """A command on this appliance's state directory and model store; its output lines."""
        where = ["--state-dir", str(self.state_dir), "--models-root", str(self.models_root)]
        return self._run([command, *where, *(str(a) for a in args)])

    def _run(self, argv: list[str]) -> list[str]:
        proc = subprocess.run([self.program, *argv], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            lines = [line.strip() for line in proc.stderr.splitlines() if line.strip()]
            reason = lines[-1] if lines else f"{UPDATER_PROGRAM} {argv[0]} exited with status {proc.returncode}"
            raise UpdaterFailed(reason, proc.returncode)
        return [line for line in proc.stdout.splitlines() if line.strip()]
