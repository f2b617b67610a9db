"""Checks of this host's own files: configuration, permissions, storage."""

from __future__ import annotations

import shutil
import stat
import tempfile
from pathlib import Path

from appliance.doctor.context import DoctorContext
from appliance.doctor.report import verdict
from appliance.ops.updater import site_key_path
from appliance.sdk.types import DoctorCheck

__all__ = [
    "FAIL_FREE_BYTES",
    "WARN_FREE_BYTES",
    "check_configuration",
    "check_permissions",
    "check_storage",
    "writable",
]

#: Free space below which storage warns: about a day of uploads at a busy branch.
WARN_FREE_BYTES = 2 * 1024**3
#: Free space below which storage fails: uploads and SQLite writes start failing soon.
FAIL_FREE_BYTES = 256 * 1024**2


def check_configuration(ctx: DoctorContext) -> DoctorCheck:
    """The settings loaded (else the runner reports the error); the secrets `appliance init` writes are set."""
    settings = ctx.settings
    problems, warnings = [], []
    if not settings.secret_key:
        problems.append("secret_key is empty: media URLs cannot be signed (appliance init writes one)")
    if not settings.webhooks.system_secret:
        warnings.append("webhooks.system_secret is empty: webhooks of folders without a company are not signed")
    if not settings.config_path.is_file():
        warnings.append(f"no config file at {settings.config_path}: defaults and APPLIANCE_* variables only")
    database = settings.resolved_database_url.partition(":")[0]
    return verdict(
        "configuration",
        problems,
        warnings,
        f"{settings.config_path}: database {database}, queue {settings.queue.backend}",
    )


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def check_permissions(ctx: DoctorContext) -> DoctorCheck:
    """No directory of the appliance writable by everyone; secrets readable by their owner only."""
    settings = ctx.settings
    directories = [
        ("data directory", settings.data_path),
        ("media directory", settings.storage_path),
        ("model store", settings.models_path),
        ("updater state directory", settings.updater_state_path),
    ]
    if settings.queue.backend == "sqlite":
        directories.append(("queue directory", settings.queue_sqlite_path))
    problems, warnings = [], []
    for what, path in directories:
        if path.is_dir() and _mode(path) & stat.S_IWOTH:
            problems.append(f"the {what} {path} is writable by everyone (mode {_mode(path):04o}): chmod o-w {path}")
    secrets = [("config file", settings.config_path, "it holds secrets")]
    secrets.append(("site key", site_key_path(settings.updater_state_path), "it signs model bundles"))
    for what, path, why in secrets:
        if not path.is_file():
            continue
        mode = _mode(path)
        if mode & (stat.S_IROTH | stat.S_IWOTH):
            problems.append(f"the {what} {path} is open to everyone (mode {mode:04o}), {why}: chmod 600 {path}")
        elif mode & (stat.S_IRGRP | stat.S_IWGRP):
            warnings.append(f"the {what} {path} is open to its group (mode {mode:04o}), {why}: chmod 600 {path}")
    return verdict("permissions", problems, warnings, "no directory writable by everyone; secrets owner-only")


def writable(directory: Path) -> bool:
    """True when a file can be made in `directory` (a real write: `os.access` says yes to root on a read-only mount)."""
    try:
        with tempfile.TemporaryFile(dir=directory):
            return True
    except OSError:  # the answer, not a failure: the storage and permissions checks report it with the path
        return False


def check_storage(ctx: DoctorContext) -> DoctorCheck:
    """The data and media directories exist and take writes; enough free space where data, media and models live."""
    settings = ctx.settings
    places = [
        ("data directory", settings.data_path, True),
        ("media directory", settings.storage_path, True),
        ("model store", settings.models_path, False),  # written by the updater only
    ]
    problems, warnings, facts = [], [], []
    seen_devices: set[int] = set()
    for what, path, written in places:
        if not path.is_dir():
            problems.append(f"the {what} {path} does not exist (appliance init makes it)")
            continue
        if written and not writable(path):
            problems.append(f"the {what} {path} takes no writes (read-only, full, or not this user's)")
        device = path.stat().st_dev
        if device in seen_devices:
            continue
        seen_devices.add(device)
        free = shutil.disk_usage(path).free
        facts.append(f"{free / 1024**3:.1f} GiB free at {path}")
        if free < FAIL_FREE_BYTES:
            problems.append(f"only {free / 1024**2:.0f} MiB free at {path}: free space or move it")
        elif free < WARN_FREE_BYTES:
            warnings.append(f"{free / 1024**3:.1f} GiB free at {path}, under {WARN_FREE_BYTES / 1024**3:.0f} GiB")
    return verdict("storage", problems, warnings, "; ".join(facts))
