"""Logging under systemd (appliance/ops/journal.py, logging.py): records as journal fields, the
JSON-lines fallback, and a real entry sent through systemd-python to a journal socket the test
binds (in a private mount namespace: test machines have no journald)."""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import subprocess
import sys
from pathlib import Path

from appliance.ops.journal import (
    JournalHandler,
    journal_field_name,
    journal_fields,
    stderr_is_journal,
    syslog_priority,
)
from appliance.ops.logging import JsonFormatter, log_handler
from tests.support.live import REPO_ROOT
from tests.support.missing import missing
from tests.support.systemd_units import require_tool


def _record(level: int = logging.WARNING, exc_info: object = None, **extra: object) -> logging.LogRecord:
    return logging.getLogger("appliance.queue.tasks").makeRecord(
        "appliance.queue.tasks", level, "/app/tasks.py", 42, "analysis %s done", ("a-1",), exc_info, "run", extra
    )


def _journal_stream(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_dev}:{stat.st_ino}"


def test_a_record_becomes_journal_fields() -> None:
    record = _record(folder_id="f-1", analysis_id="a-1", counts={"faces": 1}, priority="not mine")
    fields = journal_fields(record, "analysis a-1 done", "appliance")
    assert fields == {
        "FOLDER_ID": "f-1",
        "ANALYSIS_ID": "a-1",
        "COUNTS": '{"faces": 1}',
        "MESSAGE": "analysis a-1 done",
        "PRIORITY": "4",  # the record's own "priority" cannot replace it
        "SYSLOG_IDENTIFIER": "appliance",
        "CODE_FILE": "/app/tasks.py",
        "CODE_LINE": "42",
        "CODE_FUNC": "run",
        "LOGGER": "appliance.queue.tasks",
        "THREAD_NAME": "MainThread",
    }


def test_field_names_are_what_journald_accepts() -> None:
    assert journal_field_name("folder_id") == "FOLDER_ID"
    assert journal_field_name("_trusted") == "TRUSTED"  # a leading _ is journald's own
    assert journal_field_name("média-id") == "M_DIA_ID"
    assert journal_field_name("2fa") == "FA"
    assert journal_field_name("123") is None
    assert journal_field_name("x" * 100) == "X" * 64


def test_levels_map_to_syslog_priorities() -> None:
    levels = [logging.CRITICAL, logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG, 5]
    assert [syslog_priority(level) for level in levels] == [2, 3, 4, 6, 7, 7]


def test_the_handler_sends_the_text_with_its_traceback() -> None:
    sent: list[tuple[str, ...]] = []
    try:
        raise RuntimeError("disk full")
    except RuntimeError:
        record = _record(logging.ERROR, exc_info=sys.exc_info())
    JournalHandler(lambda *fields: sent.append(fields), "appliance").handle(record)
    (fields,) = sent
    message = next(f for f in fields if f.startswith("MESSAGE="))
    assert message.startswith("MESSAGE=analysis a-1 done\nTraceback") and "RuntimeError: disk full" in message
    assert "PRIORITY=3" in fields


def test_stderr_is_the_journal_only_when_journal_stream_names_it(tmp_path: Path, monkeypatch) -> None:
    stderr_file, other = tmp_path / "stderr", tmp_path / "other"
    stderr_file.touch()
    other.touch()
    with stderr_file.open("w") as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        assert stderr_is_journal({"JOURNAL_STREAM": _journal_stream(stderr_file)})
        assert not stderr_is_journal({"JOURNAL_STREAM": _journal_stream(other)})  # inherited, stderr redirected
        assert not stderr_is_journal({})
        assert not stderr_is_journal({"JOURNAL_STREAM": "junk"})


def test_json_lines_when_stderr_is_no_journal(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("JOURNAL_STREAM", raising=False)
    handler = log_handler()
    assert isinstance(handler, logging.StreamHandler) and isinstance(handler.formatter, JsonFormatter)
    line = handler.format(_record(folder_id="f-1"))
    assert json.loads(line) | {"time": None} == {
        "time": None,
        "level": "WARNING",
        "logger": "appliance.queue.tasks",
        "message": "analysis a-1 done",
        "folder_id": "f-1",
    }


def test_json_lines_with_level_prefixes_under_journald_without_systemd_python(tmp_path: Path, monkeypatch) -> None:
    """The fault: systemd-python is not installed (the `systemd` extra is optional)."""
    monkeypatch.setitem(sys.modules, "systemd", None)  # `from systemd import journal` raises ImportError
    stderr_file = tmp_path / "stderr"
    with stderr_file.open("w") as stderr:
        monkeypatch.setattr(sys, "stderr", stderr)
        monkeypatch.setenv("JOURNAL_STREAM", _journal_stream(stderr_file))
        handler = log_handler()
    assert isinstance(handler.formatter, JsonFormatter)
    line = handler.format(_record(logging.ERROR))
    assert line.startswith("<3>{") and json.loads(line[3:])["message"] == "analysis a-1 done"


def _native_entry(datagram: bytes) -> dict[str, str]:
    """Fields of one datagram of journald's native protocol: `NAME=value\\n`, or for a value with
    newlines `NAME\\n` + its length (64-bit little endian) + the value + `\\n`."""
    fields: dict[str, str] = {}
    rest = datagram
    while rest:
        line, _, rest = rest.partition(b"\n")
        if b"=" in line:
            name, _, value = line.partition(b"=")
        else:
            (size,) = struct.unpack("<Q", rest[:8])
            name, value, rest = line, rest[8 : 8 + size], rest[8 + size + 1 :]
        fields[name.decode()] = value.decode()
    return fields


_LOG_UNDER_SYSTEMD = """
import logging
from appliance.ops.logging import configure_logging
configure_logging("INFO")
logging.getLogger("appliance.queue.tasks").warning(
    "analysis %s done\\nin 2 steps", "a-1", extra={"folder_id": "f-1", "analysis_id": "a-1"}
)
"""


def test_a_real_entry_reaches_the_journal_socket_through_systemd_python(tmp_path: Path) -> None:
    """systemd-python sends to /run/systemd/journal/socket. The child runs in a mount namespace
    of its own where a directory of the test is mounted on /run/systemd, so the socket the test
    binds there is the journal's; its stderr is a file that JOURNAL_STREAM names, as under systemd."""
    try:
        import systemd.journal  # noqa: F401  (only whether it is installed)
    except ImportError:
        missing("systemd-python is not installed (the `systemd` extra)")
    unshare = [require_tool("unshare"), "--mount", "--map-root-user", "--propagation", "private"]
    probe = subprocess.run([*unshare, "true"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        missing(f"no private mount namespace here: {probe.stderr.strip()}")
    run_systemd = tmp_path / "run-systemd"
    (run_systemd / "journal").mkdir(parents=True)
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(str(run_systemd / "journal" / "socket"))
    journal.settimeout(5)  # the child has sent it by the time it exits
    stderr_file = tmp_path / "stderr"
    stderr_file.touch()
    command = [
        *unshare,
        *("sh", "-c", 'mount --bind "$0" /run/systemd && exec "$@"', str(run_systemd)),
        *(sys.executable, "-c", _LOG_UNDER_SYSTEMD),
    ]
    env = {**os.environ, "JOURNAL_STREAM": _journal_stream(stderr_file), "PYTHONPATH": str(REPO_ROOT)}
    with stderr_file.open("w") as stderr:
        result = subprocess.run(command, env=env, cwd=REPO_ROOT, stderr=stderr, timeout=60, check=False)
    assert result.returncode == 0, stderr_file.read_text()
    try:
        entry = _native_entry(journal.recv(65536))
    finally:
        journal.close()
    assert entry == {
        "FOLDER_ID": "f-1",
        "ANALYSIS_ID": "a-1",
        "MESSAGE": "analysis a-1 done\nin 2 steps",
        "PRIORITY": "4",
        "SYSLOG_IDENTIFIER": "appliance",
        "CODE_FILE": "<string>",
        "CODE_LINE": "5",
        "CODE_FUNC": "<module>",
        "LOGGER": "appliance.queue.tasks",
        "THREAD_NAME": "MainThread",
    }
    assert stderr_file.read_text() == ""  # nothing went to stderr as well
