"""`appliance work`: the plugins' background work (a collection re-enrolled after an embedding model
change): how far it is, and running it now rather than at the scheduler's next turn."""

from __future__ import annotations

import click

from appliance.cli.common import settings_or_fail, user_errors
from appliance.core.background import background_progress, run_background_work
from appliance.core.services import AppServices


@click.group()
def work() -> None:
    """The plugins' background work: its progress, or run it now."""


@work.command("status")
@user_errors
def status() -> None:
    """One line per piece of work: done of total, failed, pending or done; exit 0."""
    services = AppServices(settings_or_fail())
    try:
        lines = [f"{plugin}: {progress.line()}" for plugin, progress in background_progress(services)]
    finally:
        services.close()
    click.echo("\n".join(lines) if lines else "no background work")


@work.command("run")
@click.option("--seconds", type=float, default=600.0, show_default=True, help="stop after about this long")
@user_errors
def run(seconds: float) -> None:
    """Do the pending work now, in this process (the scheduler's job does the same in the background),
    then print the progress."""
    services = AppServices(settings_or_fail())
    try:
        counts = run_background_work(services, seconds)
        for name, value in sorted(counts.items()):
            click.echo(f"{name}: {value}")
        for plugin, progress in background_progress(services):
            click.echo(f"{plugin}: {progress.line()}")
    finally:
        services.close()
