"""Refusals and failures, each with the exit code the CLI returns (docs/updater.md, "Exit codes")."""

from __future__ import annotations

__all__ = [
    "EXIT_OK",
    "Busy",
    "CanaryRefused",
    "HealthCheckFailed",
    "InstallFailed",
    "PolicyRefused",
    "UpdateError",
    "UsageError",
    "VerificationRefused",
]

EXIT_OK = 0


class UpdateError(Exception):
    """Base class: the message is one line for the technician."""

    exit_code = 1


class UsageError(UpdateError):
    """Wrong arguments, missing files, an appliance without a root of trust."""

    exit_code = 2


class VerificationRefused(UpdateError):
    """The bundle or root is not genuine: signatures, keys, threshold, a malformed manifest."""

    exit_code = 3


class PolicyRefused(UpdateError):
    """Genuine but not allowed here: downgrade, replay, expired, incompatible, embedding space."""

    exit_code = 4


class InstallFailed(UpdateError):
    """The bundle's content does not match its manifest, or the store could not be written; nothing changed."""

    exit_code = 5


class Busy(UpdateError):
    """Another appliance-update holds the lock."""

    exit_code = 6


class CanaryRefused(UpdateError):
    """The bundle's models failed their canaries before the switch; nothing changed."""

    exit_code = 7


class HealthCheckFailed(UpdateError):
    """The models failed the health check after the switch; the previous versions were switched back."""

    exit_code = 8
