"""Canaries and the post-switch health check, through a command-line contract (docs/updater.md, "Canaries").

The updater imports nothing of the appliance: it runs a command (default `appliance models
canary`), appending `--root DIR --manifest FILE`. Exit status 0 means every model passed; anything
else (or no answer within the timeout) is a failure, reported with the command's last output line.

- before the switch, DIR is a temporary store `<models_root>/.canary-<random>/` holding the
  bundle's staged models (hard links to the staged files, their cards, `active` links to the new
  versions); it is removed afterwards;
- after the switch, DIR is the live store.

The command comes from `--canary-command`, else `canary_command` in `<state_dir>/config.json`
(a string, split like a shell command line; null or "" turns canaries off), else the default.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from appliance_modelstore.layout import CARD_FILE

from appliance_updater.errors import CanaryRefused, UsageError
from appliance_updater.json_forms import pretty_json
from appliance_updater.manifest import Manifest

__all__ = ["CONFIG_FILE", "DEFAULT_CANARY_COMMAND", "CanaryCommand", "canary_from_config"]

DEFAULT_CANARY_COMMAND = "appliance models canary"
DEFAULT_TIMEOUT = 300.0
CONFIG_FILE = "config.json"
CANARY_STORE_PREFIX = ".canary-"


@dataclass(frozen=True)
class CanaryCommand:
    argv: tuple[str, ...]
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def parse(cls, command: str, timeout: float = DEFAULT_TIMEOUT) -> CanaryCommand:
        argv = tuple(shlex.split(command))
        if not argv:
            raise UsageError("the canary command is empty")
        return cls(argv, timeout)

    def run(self, root: Path, manifest_file: Path) -> tuple[bool, str]:
        """(passed, the command's last output line or why it could not run)."""
        argv = [*self.argv, "--root", str(root), "--manifest", str(manifest_file)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout, check=False)
        except FileNotFoundError:
            return False, f"the canary command {self.argv[0]!r} is not installed"
        except subprocess.TimeoutExpired:
            return False, f"the canary command gave no answer within {self.timeout:g} s"
        except OSError as exc:
            return False, f"the canary command cannot run: {exc}"
        lines = [ln for ln in (proc.stdout + "\n" + proc.stderr).splitlines() if ln.strip()]
        failing = [ln for ln in proc.stdout.splitlines() if ln.startswith("FAIL")]
        what = (failing or lines or ["(no output)"])[-1 if not failing else 0].strip()
        if proc.returncode != 0:
            return False, f"exit status {proc.returncode}: {what}"
        return True, what

    def check_staged(self, models_root: Path, state_dir: Path, manifest: Manifest, staged: dict[str, Path]) -> None:
        """Run the command on a temporary store of the staged models; raise CanaryRefused on failure."""
        remove_leftovers(models_root)
        store = models_root / f"{CANARY_STORE_PREFIX}{secrets.token_hex(8)}"
        manifest_file = state_dir / f".canary-manifest-{secrets.token_hex(8)}.json"
        try:
            for model in manifest.models:
                version_dir = store / model.name / model.version
                version_dir.mkdir(parents=True)
                for f in model.files:
                    source = staged[model.name] / f.name
                    try:
                        os.link(source, version_dir / f.name)
                    except OSError:
                        shutil.copyfile(source, version_dir / f.name)
                (version_dir / CARD_FILE).write_bytes(pretty_json(model.card))
                os.symlink(model.version, store / model.name / "active")
            manifest_file.write_bytes(manifest.raw)
            passed, what = self.run(store, manifest_file)
        finally:
            shutil.rmtree(store, ignore_errors=True)
            manifest_file.unlink(missing_ok=True)
        if not passed:
            raise CanaryRefused(f"canary failed before the switch, nothing changed: {what}")

    def check_live(self, models_root: Path, state_dir: Path, manifest: Manifest) -> tuple[bool, str]:
        manifest_file = state_dir / f".canary-manifest-{secrets.token_hex(8)}.json"
        try:
            manifest_file.write_bytes(manifest.raw)
            return self.run(models_root, manifest_file)
        finally:
            manifest_file.unlink(missing_ok=True)


def remove_leftovers(models_root: Path) -> None:
    """Temporary canary stores a crash left behind."""
    if models_root.is_dir():
        for leftover in models_root.glob(f"{CANARY_STORE_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)


def canary_from_config(state_dir: Path, override: str | None = None, disabled: bool = False) -> CanaryCommand | None:
    """The canary command: `override`, else `<state_dir>/config.json`, else the default; None when off."""
    if disabled:
        return None
    path = Path(state_dir) / CONFIG_FILE
    config: dict = {}
    try:
        if path.exists():  # no config file: the defaults
            config = json.loads(path.read_bytes())
    except ValueError as exc:
        raise UsageError(f"{Path(state_dir) / CONFIG_FILE} is unreadable: {exc}") from None
    if not isinstance(config, dict):
        raise UsageError(f"{Path(state_dir) / CONFIG_FILE} must hold a JSON object")
    timeout = config.get("canary_timeout", DEFAULT_TIMEOUT)
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
        raise UsageError(f"{CONFIG_FILE}: canary_timeout must be a number of seconds > 0")
    if override is not None:
        return CanaryCommand.parse(override, float(timeout)) if override.strip() else None
    command = config.get("canary_command", DEFAULT_CANARY_COMMAND)
    if command is None or command == "":
        return None
    if not isinstance(command, str):
        raise UsageError(f"{CONFIG_FILE}: canary_command must be a string or null")
    return CanaryCommand.parse(command, float(timeout))
