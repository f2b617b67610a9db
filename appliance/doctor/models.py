"""The models check: every default model active, its files as its card says, and each loads and passes
its canary (the active bundle's, docs/updater.md "Canaries"), as the updater's health check runs them."""

from __future__ import annotations

from typing import Any

from appliance.doctor.context import DoctorContext
from appliance.doctor.report import verdict
from appliance.runtime.canary import run_canaries
from appliance.runtime.defaults import DEFAULT_MODELS
from appliance.runtime.errors import ModelError
from appliance.sdk.types import DoctorCheck

__all__ = ["check_models"]


def check_models(ctx: DoctorContext) -> DoctorCheck:
    store = ctx.models
    problems, warnings = [], []
    missing = [m.name for m in DEFAULT_MODELS if store.active_version(m.name) is None]
    if missing:
        problems.append(f"no active version of {', '.join(missing)} in {store.root}: run appliance init")
    intact: dict[str, str] = {}
    for name in store.names():
        version = store.active_version(name)
        if version is None:
            continue
        try:
            store.verify(store.card(name, version))
        except ModelError as exc:
            problems.append(str(exc))
            continue
        intact[name] = version
    bundle = store.active_bundle()
    try:
        manifest = store.active_manifest()
    except ModelError as exc:
        warnings.append(f"{exc}: the models ran on a gray input instead of their canaries")
        manifest = None
    if bundle is None:
        warnings.append(
            f"no signed bundle is active in {store.root}: the models were not installed by appliance-update"
        )
    entries = _canary_entries(intact, manifest, warnings)
    results = run_canaries(store, {"models": entries}) if entries else []
    problems += [result.line() for result in results if not result.ok]
    source = f"bundle {bundle.bundle_id} version {bundle.bundle_version}" if bundle else "no bundle"
    return verdict(
        "models",
        problems,
        warnings,
        f"{len(intact)} models active, files as their cards say, canaries passed ({source})",
    )


def _canary_entries(
    active: dict[str, str], manifest: dict[str, Any] | None, warnings: list[str]
) -> list[dict[str, Any]]:
    """The manifest's entry of each active model at the version the bundle lists, else a bare entry
    (load it and run it once on a gray input)."""
    listed = {m.get("name"): m for m in (manifest or {}).get("models", []) if isinstance(m, dict)}
    entries = []
    for name, version in active.items():
        entry = listed.get(name)
        if entry is not None and entry.get("version") == version:
            entries.append(entry)
            continue
        if entry is not None:
            warnings.append(f"{name} is at {version}, the active bundle lists {entry.get('version')}")
        entries.append({"name": name})
    return entries
