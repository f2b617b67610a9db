"""How `appliance init` puts the default models in place: as a signed bundle, through `appliance-update`.

Two paths to the same install (docs/updater.md, "The default model bundle"):

- source path (a checkout, `./scripts/run`): no vendor key exists. Init makes a site key and a
  root of trust listing it (threshold 1) when none is provisioned, builds the default bundle from
  the installed wheels with canaries computed here, signs it with the site key and installs it;
- release path (`--trust-root ROOT.json --bundle FILE`): the vendor's root and signed bundle.

Either way the updater stages, checks hashes, runs the canaries, switches atomically and records
the install; a refusal leaves the model store as it was.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from pathlib import Path

from appliance_modelstore.store import ModelStore

from appliance.ops.settings import Settings
from appliance.ops.updater import (
    CANARY_COMMAND,
    ROOT_FILE,
    UpdaterCommand,
    UpdaterFailed,
    site_key_path,
    site_public_key_path,
)
from appliance.runtime.default_export import default_bundle_id, export_default_store
from appliance.runtime.defaults import default_cards

__all__ = ["SITE_BUNDLE_VERSION", "install_release_bundle", "install_site_defaults"]

#: The version of the default bundle a site builds itself: the first bundle of that site. A vendor's
#: bundles, once the site trusts the vendor's root, carry higher versions.
SITE_BUNDLE_VERSION = 1

Echo = Callable[[str], None]


def install_site_defaults(settings: Settings, echo: Echo) -> None:
    """The source path: build, sign with the site key and install the default bundle, unless a bundle is active."""
    bundle_id = default_bundle_id([card for card, _ in default_cards()])
    active = ModelStore(settings.models_path).active_bundle()
    if active is not None:
        if active.bundle_id == bundle_id:
            version = active.bundle_version
            echo(f"default models: bundle {bundle_id} version {version} is already active; nothing to do")
        else:
            echo(
                f"models: bundle {active.bundle_id} version {active.bundle_version} is active; init leaves it "
                "(model updates go through appliance-update)"
            )
        return
    state_dir = settings.updater_state_path
    updater = UpdaterCommand.locate(state_dir, settings.models_path)
    key = site_key_path(state_dir)
    provisioned = (state_dir / ROOT_FILE).exists()
    if provisioned and not key.is_file():
        raise UpdaterFailed(
            f"the root of trust in {state_dir} has no site key to sign the default models with; "
            "install the vendor's default bundle: appliance init --bundle FILE",
            2,
        )
    state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".defaults-", dir=state_dir) as tmp:
        export = export_default_store(Path(tmp) / "export")  # before any key or root is written
        if not provisioned:
            _provision_site_root(updater, Path(tmp) / "site-root.json")
            echo(f"trusting a new site key ({key}) for the model bundles of this appliance")
        bundle = Path(tmp) / f"{export.bundle_id}.bundle"
        updater.vendor(
            "build", export.store, "--out", bundle, "--version", str(SITE_BUNDLE_VERSION), *export.build_arguments()
        )
        updater.vendor("sign", bundle, "--key", key)
        _install(updater, bundle, echo)


def install_release_bundle(settings: Settings, trust_root: Path | None, bundle: Path, echo: Echo) -> None:
    """The release path: provision the vendor's root (unless it is the one trusted already), install its bundle."""
    state_dir = settings.updater_state_path
    updater = UpdaterCommand.locate(state_dir, settings.models_path)
    current = state_dir / ROOT_FILE
    if trust_root is not None and not current.exists():
        state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        echo(f"models: {updater.appliance('init', '--root', trust_root)[-1]}")
    elif trust_root is not None and _signed_part(current) != _signed_part(trust_root):
        raise UpdaterFailed(
            f"{current} holds another root of trust; adopt a new one with `appliance-update rotate-root NEW.json`", 2
        )
    elif not current.exists():
        raise UpdaterFailed(f"no root of trust in {state_dir}: give the vendor's root with --trust-root ROOT.json", 2)
    _install(updater, bundle, echo)


def _provision_site_root(updater: UpdaterCommand, root_file: Path) -> None:
    """A site key (kept beside the root, 0600) and a root of trust listing it alone, threshold 1."""
    key = site_key_path(updater.state_dir)
    if not key.exists():  # else: kept from an init that stopped before the root was provisioned
        updater.vendor("keygen", "--out", key.with_suffix(""))
    public = site_public_key_path(updater.state_dir)
    updater.vendor("root-create", "--pub", public, "--threshold", "1", "--out", root_file)
    updater.vendor("root-sign", root_file, "--key", key)
    updater.appliance("init", "--root", root_file)


def _install(updater: UpdaterCommand, bundle: Path, echo: Echo) -> None:
    try:
        lines = updater.appliance("install", "--quiet", "--canary-command", CANARY_COMMAND, bundle)
    except UpdaterFailed as exc:
        raise UpdaterFailed(f"the model bundle {bundle.name} was not installed: {exc}", exc.exit_code) from None
    summary = ", ".join(line.strip().replace(": - -> ", " ") for line in lines[1:])
    echo(f"models: {lines[0]}" + (f" ({summary})" if summary else ""))


def _signed_part(root_file: Path) -> object:
    try:
        return json.loads(Path(root_file).read_bytes())["signed"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UpdaterFailed(f"cannot read the root of trust {root_file}: {exc}", 2) from None
