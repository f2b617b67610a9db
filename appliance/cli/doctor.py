"""`appliance doctor`: one table (or JSON) saying whether this host can run the appliance (docs/doctor.md)."""

from __future__ import annotations

import sys

import click

from appliance.ops.logging import configure_logging

__all__ = ["doctor"]


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON document instead of the table.")
def doctor(as_json: bool) -> None:
    """Check configuration, permissions, storage, database, queue, models, clock, hosts and plugins.

    Exit status 0 when no check failed (warnings allowed), 1 otherwise. Reads only.
    """
    from appliance.doctor import run_doctor

    configure_logging("WARNING")  # the table is the output; model loading logs would bury it
    report = run_doctor()
    click.echo(report.json() if as_json else report.table())
    sys.exit(report.exit_code)
