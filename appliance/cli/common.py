"""What every `appliance` command shares: settings, one-line errors, password input."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

import click

from appliance.domain.errors import AppError
from appliance.ops.logging import configure_logging
from appliance.ops.settings import Settings, load_settings

__all__ = ["fail", "read_password", "settings_or_fail", "user_errors"]

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    """One clear line and a non-zero exit."""
    click.echo(f"appliance: {message}", err=True)
    sys.exit(1)


def user_errors(func: F) -> F:
    """Turn the errors a user can act on into one line and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except AppError as exc:
            fail(exc.message)
        except (ValueError, OSError) as exc:
            fail(str(exc))

    return wrapper  # type: ignore[return-value]


def settings_or_fail() -> Settings:
    try:
        settings = load_settings()
    except ValueError as exc:
        fail(str(exc))
    configure_logging(settings.log_level)
    return settings


def read_password(env_var: str, prompt: str) -> str:
    """From the environment, else from a hidden prompt; never echoed or logged."""
    password = os.environ.get(env_var)
    if password:
        return password
    if not sys.stdin.isatty():
        fail(f"set {env_var} or run this command in a terminal to type the password")
    return click.prompt(prompt, hide_input=True, confirmation_prompt=True)
