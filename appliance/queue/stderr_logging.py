"""Logging of the queue processes (workers, scheduler): plain lines on stderr, which journald
and podman collect. Set up only if nothing configured logging before (the CLI or a test may have)."""

from __future__ import annotations

import logging
import sys

__all__ = ["log_to_stderr"]

FORMAT = "%(asctime)s %(levelname)s %(processName)s %(name)s: %(message)s"


def log_to_stderr(level: str) -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format=FORMAT)
