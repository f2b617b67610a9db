"""Log records as structured journal entries, for a process whose stderr is the journal.

systemd connects a service's stderr to journald and names that stream in `JOURNAL_STREAM`
(`<device>:<inode>`, systemd.exec(5)); a process that finds its stderr there may log natively,
with fields, instead of plain lines. Each record becomes `MESSAGE` (with the traceback, if any),
`PRIORITY` (the syslog level), `SYSLOG_IDENTIFIER`, `CODE_FILE` / `CODE_LINE` / `CODE_FUNC`,
`LOGGER`, `THREAD_NAME`, and the record's own fields (`extra=`) upper-cased: `folder_id` becomes
`FOLDER_ID`, so `journalctl FOLDER_ID=...` finds every line about a folder.

Entries are sent with systemd-python (the optional `systemd` extra). Without it, or when stderr
is not the journal, `appliance.ops.logging` writes JSON lines instead. Like every log line, an
entry carries only what the record carries: ids, counts, durations, never biometric data.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "JournalHandler",
    "extra_fields",
    "journal_field_name",
    "journal_fields",
    "journal_handler",
    "stderr_is_journal",
    "syslog_priority",
]

#: What every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_NOT_A_FIELD_CHARACTER = re.compile(r"[^A-Z0-9_]")
#: journald refuses longer field names.
_MAX_FIELD_NAME = 64


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a record was given with `extra=` (e.g. folder_id, analysis_id)."""
    return {key: value for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES}


def syslog_priority(levelno: int) -> int:
    """The syslog priority of a logging level: 2 critical, 3 error, 4 warning, 6 info, 7 debug."""
    if levelno >= logging.CRITICAL:
        return 2
    if levelno >= logging.ERROR:
        return 3
    if levelno >= logging.WARNING:
        return 4
    if levelno >= logging.INFO:
        return 6
    return 7


def journal_field_name(key: str) -> str | None:
    """`key` as a journal field name (upper-case letters, digits and underscores, starting with a
    letter, at most 64 characters), or None when nothing of it is left."""
    name = _NOT_A_FIELD_CHARACTER.sub("_", key.upper()).lstrip("_0123456789")[:_MAX_FIELD_NAME]
    return name or None


def _field_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(value, default=str)
    return str(value)


def journal_fields(record: logging.LogRecord, message: str, identifier: str) -> dict[str, str]:
    """The journal entry of `record`, whose formatted text is `message`.

    The record's own fields come first, so that a field it happens to share with the standard
    ones (an `extra={"priority": ...}`) cannot replace them.
    """
    fields: dict[str, str] = {}
    for key, value in extra_fields(record).items():
        name = journal_field_name(key)
        if name is not None:
            fields[name] = _field_value(value)
    fields.update(
        {
            "MESSAGE": message,
            "PRIORITY": str(syslog_priority(record.levelno)),
            "SYSLOG_IDENTIFIER": identifier,
            "CODE_FILE": record.pathname,
            "CODE_LINE": str(record.lineno),
            "CODE_FUNC": record.funcName,
            "LOGGER": record.name,
            "THREAD_NAME": record.threadName or "",
        }
    )
    return fields


class JournalHandler(logging.Handler):
    """Sends each record as one journal entry through `sendv` (systemd-python's
    `journal.sendv`, which takes the entry as `FIELD=value` strings)."""

    def __init__(self, sendv: Callable[..., Any], identifier: str, level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self._sendv = sendv
        self.identifier = identifier
        self.setFormatter(logging.Formatter("%(message)s"))  # the text, and the traceback below it

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields = journal_fields(record, self.format(record), self.identifier)
            self._sendv(*(f"{name}={value}" for name, value in fields.items()))
        except Exception:  # noqa: BLE001 (logging's contract: a handler reports its own failures)
            self.handleError(record)


def journal_handler(identifier: str) -> JournalHandler | None:
    """A handler writing to the journal, or None when systemd-python is not installed."""
    try:
        from systemd import journal
    except ImportError:
        return None
    return JournalHandler(journal.sendv, identifier)


def stderr_is_journal(environ: Mapping[str, str] | None = None) -> bool:
    """True when this process's stderr is the journal stream systemd named in `JOURNAL_STREAM`.

    The variable alone is not enough: a child whose stderr was redirected inherits it.
    """
    device, _, inode = (os.environ if environ is None else environ).get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()) or sys.stderr is None:
        return False
    try:
        stat = os.fstat(sys.stderr.fileno())
    except (OSError, ValueError):  # stderr is closed or is no file (io.UnsupportedOperation is both)
        return False
    return (stat.st_dev, stat.st_ino) == (int(device), int(inode))
