"""The `appliance` command.

Every command reads the same settings (config file + APPLIANCE_* variables). Errors a user can
fix are printed as one line on stderr with exit status 1; nothing else is caught.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path

import click

from appliance.cli.common import fail, read_password, settings_or_fail, user_errors
from appliance.cli.demo import demo
from appliance.cli.doctor import doctor
from appliance.cli.metrics import metrics, use_host_metrics_dir
from appliance.cli.models import models
from appliance.cli.users import users
from appliance.cli.work import work
from appliance.ops.settings import Settings, load_settings

__all__ = ["cli"]


@click.group()
@click.version_option(package_name="liveness-appliance")
def cli() -> None:
    """Offline liveness and biometry appliance."""


# Setting up ---------------------------------------------------------------------------------------


def _write_config(path: Path) -> bool:
    """Write a config file with fresh secrets, unless one exists. True if written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    text = (
        "# Written by `appliance init`. Every setting and its default: docs/configuration.md.\n"
        "# Keep this file private: it holds the secrets that sign media URLs and webhooks.\n"
        f'secret_key = "{secrets.token_hex(32)}"\n\n'
        "[webhooks]\n"
        f'system_secret = "{secrets.token_hex(32)}"\n\n'
        "[metrics]\n"
        "# Scrapers of /metrics send it as `Authorization: Bearer <token>` (docs/metrics.md).\n"
        f'token = "{secrets.token_hex(32)}"\n'
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return True


@cli.command()
@click.option("--admin-email", default="admin@appliance.local", show_default=True, help="Login of the first ADMIN.")
@click.option(
    "--trust-root",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Release path: the vendor's root.json to trust (with --bundle).",
)
@click.option(
    "--bundle",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Release path: the vendor's signed default model bundle, installed instead of building one here.",
)
@user_errors
def init(admin_email: str, trust_root: Path | None, bundle: Path | None) -> None:
    """Create the data directory, config file, database schema, the default models and the first ADMIN.

    The default models are installed as a signed bundle through appliance-update: built here from
    the installed packages and signed with a site key made here, or the vendor's (--trust-root,
    --bundle). The ADMIN's password comes from APPLIANCE_ADMIN_PASSWORD or a prompt. Safe to run again.
    """
    from appliance.auth.accounts import create_account
    from appliance.cli.default_bundle import install_release_bundle, install_site_defaults
    from appliance.cli.sqlite_guard import refuse_shared_sqlite
    from appliance.core.services import AppServices
    from appliance.domain.enums import Role

    if trust_root is not None and bundle is None:
        fail("--trust-root needs --bundle: the vendor's root and the bundle it signed come together")
    settings = load_settings()
    refuse_shared_sqlite(settings)  # before anything is written
    settings.data_path.mkdir(parents=True, exist_ok=True)
    if _write_config(settings.config_path):
        click.echo(f"wrote {settings.config_path}")
    settings = settings_or_fail()
    for path in (settings.storage_path, settings.models_path):
        path.mkdir(parents=True, exist_ok=True)
    if bundle is None:
        install_site_defaults(settings, click.echo)
    else:
        install_release_bundle(settings, trust_root, bundle, click.echo)
    services = AppServices(settings)
    store = services.store
    try:
        applied = services.migrate()
        click.echo(f"database ready ({len(applied)} migrations applied)")
        admins, _ = store.list_users(limit=1000)
        if any(u.user_type is Role.ADMIN for u in admins):
            click.echo("an ADMIN exists already; no account created")
            return
        password = read_password("APPLIANCE_ADMIN_PASSWORD", f"Password for {admin_email}")
        create_account(store, email=admin_email, password=password, user_type=Role.ADMIN, first_name="Admin")
        click.echo(f"created ADMIN {admin_email}")
    finally:
        services.close()


# Running ------------------------------------------------------------------------------------------


def _host_settings() -> Settings:
    """The settings, once this host may use the SQLite files they name (docs/two-hosts.md) and its
    model store holds one whole model set (a switch a crash cut is finished first, cli/model_guard.py)."""
    from appliance.cli.model_guard import recover_interrupted_switch
    from appliance.cli.sqlite_guard import refuse_shared_sqlite

    settings = settings_or_fail()
    refuse_shared_sqlite(settings)
    recover_interrupted_switch(settings)
    return settings


@cli.command()
@click.option("--host", default=None, help="Overrides api.host.")
@click.option("--port", type=int, default=None, help="Overrides api.port.")
@user_errors
def serve(host: str | None, port: int | None) -> None:
    """Run the API server only (under systemd: READY once it answers, and the watchdog)."""
    from appliance.api.server import serve_api

    settings = _host_settings()
    use_host_metrics_dir(settings, serves=True)
    serve_api(settings, host or settings.api.host, port or settings.api.port)


@cli.command()
@click.option("--queue", "queue_name", required=True, help="default, maintenance, analysis, resolution or preview.")
@click.option("--workers", type=int, default=1, show_default=True)
@user_errors
def worker(queue_name: str, workers: int) -> None:
    """Run the workers of one queue."""
    from appliance.queue.worker import run_worker

    settings = _host_settings()
    use_host_metrics_dir(settings, serves=False)
    run_worker(settings, queue_name, workers)


@cli.command()
@user_errors
def scheduler() -> None:
    """Enqueue the periodic maintenance jobs (run exactly one per installation)."""
    from appliance.queue.scheduler import run_scheduler

    run_scheduler(_host_settings())


@cli.command()
@click.option("--analysis-workers", type=int, default=2, show_default=True, help="Processes running analyses.")
@user_errors
def run(analysis_workers: int) -> None:
    """API, workers and scheduler together: the one-host appliance."""
    from appliance.cli.supervisor import run_all

    sys.exit(run_all(_host_settings(), analysis_workers))


cli.add_command(users)
cli.add_command(models)
cli.add_command(demo)
cli.add_command(doctor)
cli.add_command(metrics)
cli.add_command(work)
