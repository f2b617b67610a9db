"""`appliance users`: accounts from the command line (for the first steps and for recovery)."""

from __future__ import annotations

from dataclasses import replace

import click

from appliance.auth.throttle import account_of
from appliance.cli.common import fail, read_password, settings_or_fail, user_errors
from appliance.core.services import AppServices
from appliance.domain.enums import Role
from appliance.store.protocol import Store


def _store() -> Store:
    store = AppServices(settings_or_fail()).store
    store.migrate()
    return store


@click.group()
def users() -> None:
    """List and create users, reset passwords, unlock accounts."""


@users.command("list")
@user_errors
def list_users() -> None:
    """Every user: email, role, company."""
    store = _store()
    try:
        items, total = store.list_users(limit=1000)
        for u in items:
            flags = ",".join(
                f for f, on in (("admin", u.is_admin), ("service", u.is_service), ("disabled", not u.is_active)) if on
            )
            click.echo(f"{u.email}\t{u.user_type}\t{u.company_id or '-'}\t{flags}")
        click.echo(f"{total} users")
    finally:
        store.close()


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.CLIENT.value, show_default=True)
@click.option("--company-id", default=None, help="Required for CLIENT and CLIENT_OPERATOR.")
@click.option("--company-admin", is_flag=True, help="A CLIENT who manages its company (is_admin).")
@click.option("--service", is_flag=True, help="A service account with long-lived tokens.")
@user_errors
def create_user(email: str, role: str, company_id: str | None, company_admin: bool, service: bool) -> None:
    """Create a user; the password comes from APPLIANCE_USER_PASSWORD or a prompt."""
    from appliance.auth.accounts import create_account

    store = _store()
    try:
        password = read_password("APPLIANCE_USER_PASSWORD", f"Password for {email}")
        user = create_account(
            store,
            email=email,
            password=password,
            user_type=Role(role),
            company_id=company_id,
            is_admin=company_admin,
            is_service=service,
        )
        click.echo(f"created {user.user_type} {user.email} ({user.user_id})")
    finally:
        store.close()


@users.command("set-password")
@click.argument("email")
@user_errors
def set_password(email: str) -> None:
    """Set a new password (APPLIANCE_USER_PASSWORD or a prompt), unlock the account, end its sessions."""
    from appliance.auth.passwords import hash_password

    store = _store()
    try:
        user = store.get_user_by_email(email)
        if user is None:
            fail(f"no user {email}")
        password = read_password("APPLIANCE_USER_PASSWORD", f"New password for {email}")
        with store.transaction():
            store.update_user(replace(user, password_hash=hash_password(password)))
            store.delete_user_sessions(user.user_id)
            store.unlock_account(account_of(email))
        click.echo(f"password of {email} changed")
    finally:
        store.close()


@users.command("unlock")
@click.argument("email")
@user_errors
def unlock(email: str) -> None:
    """Forget the account's failed logins from every address, so that no delay holds it back."""
    store = _store()
    try:
        if store.get_user_by_email(email.strip()) is None:
            fail(f"no user {email}")
        addresses = store.unlock_account(account_of(email))
        click.echo(
            f"unlocked {email}: its failed logins forgotten ({addresses} address{'es' if addresses != 1 else ''})"
        )
    finally:
        store.close()
