"""Structured logs: one JSON object per line on stderr (journald and Podman keep stderr), or,
under systemd with systemd-python installed, journal entries with fields (`journal.py`).

Log records carry ids, types, counts and durations. Media, embeddings, meta_data and passwords
never go into a log message: they are personal or biometric data.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from appliance.ops.journal import extra_fields, journal_handler, stderr_is_journal, syslog_priority

__all__ = ["JsonFormatter", "configure_logging", "log_handler"]

#: SYSLOG_IDENTIFIER of the journal entries: every appliance command, as journald names the
#: lines a unit writes to stderr (the program's name); `journalctl -u <unit>` tells them apart.
IDENTIFIER = "appliance"


class JsonFormatter(logging.Formatter):
    """One JSON object per record. With `level_prefix`, each line starts with its syslog priority
    (`<3>{...}`), which journald takes off the line and records as the entry's PRIORITY."""

    def __init__(self, level_prefix: bool = False) -> None:
        super().__init__()
        self.level_prefix = level_prefix

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        doc.update(extra_fields(record))
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        line = json.dumps(doc, default=str)
        return f"<{syslog_priority(record.levelno)}>{line}" if self.level_prefix else line


def log_handler() -> logging.Handler:
    """Journal entries when stderr is the journal and systemd-python is installed; else JSON
    lines on stderr (with level prefixes when stderr is the journal)."""
    under_journal = stderr_is_journal()
    journal = journal_handler(IDENTIFIER) if under_journal else None
    if journal is not None:
        return journal
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(level_prefix=under_journal))
    return handler


def configure_logging(level: str = "INFO") -> None:
    handler = log_handler()
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
