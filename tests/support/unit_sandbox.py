"""Run a program under the system call filters a systemd unit asks for, without systemd.

Test machines have no systemd as PID 1, so a unit cannot be started there; but the settings most
likely to break a Python program with native ML runtimes are seccomp filters, which libseccomp
loads anywhere: `SystemCallFilter=` with `SystemCallErrorNumber=`, `MemoryDenyWriteExecute=`
(no writable and executable memory: what a JIT needs) and `RestrictAddressFamilies=`. This loads
them as systemd 252 does and execs the program, which keeps them (seccomp filters survive
execve and are inherited by every child):

    python -m tests.support.unit_sandbox UNIT_FILE PROGRAM [ARGS...]   (sandbox_launcher(UNIT_FILE))

The system call groups (`@system-service`, ...) are read from the installed
`systemd-analyze syscall-filter`, so they are that systemd's own.
"""

from __future__ import annotations

import ctypes
import errno
import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.systemd_units import unit_settings

__all__ = ["load_unit_filters", "sandbox_launcher"]

_ALLOW = 0x7FFF0000
_CMP_EQ, _CMP_GE, _CMP_MASKED_EQ = 4, 5, 7
_PROT_WRITE, _PROT_EXEC, _SHM_EXEC = 0x2, 0x4, 0o100000
#: One past the highest address family number systemd 252 knows (AF_MCTP).
_AF_MAX = 46


def _errno_action(number: int) -> int:
    return 0x00050000 | (number & 0xFFFF)


class _Compare(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]


def _syscall_groups() -> dict[str, list[str]]:
    out = subprocess.run(["systemd-analyze", "syscall-filter"], check=True, capture_output=True, text=True).stdout
    groups: dict[str, list[str]] = {}
    members: list[str] = []
    for line in out.splitlines():
        if line.startswith("@"):
            members = groups.setdefault(line.strip(), [])
        elif line.startswith(" ") and not line.strip().startswith("#"):
            members.append(line.strip())
    return groups


def _expand(names: list[str], groups: dict[str, list[str]]) -> set[str]:
    calls: set[str] = set()
    for name in names:
        calls |= _expand(groups[name], groups) if name.startswith("@") else {name}
    return calls


def _allowed_calls(filters: list[str], groups: dict[str, list[str]]) -> set[str]:
    """The allow list of `SystemCallFilter=` lines: the first names what is allowed (plus
    @default, which systemd adds to every allow list), each `~` line takes calls away."""
    allowed = _expand(["@default"], groups)
    for value in filters:
        if value.startswith("~"):
            allowed -= _expand(value[1:].split(), groups)
        else:
            allowed |= _expand(value.split(), groups)
    return allowed


class _Filter:
    def __init__(self, lib: ctypes.CDLL, default_action: int) -> None:
        self._lib = lib
        self._ctx = lib.seccomp_init(default_action)

    def rule(self, action: int, name: str, *compares: tuple[int, int, int]) -> None:
        number = self._lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return  # a call this libseccomp does not know (another architecture's)
        array = (_Compare * max(1, len(compares)))(*(_Compare(a, op, v, v) for a, op, v in compares))
        if self._lib.seccomp_rule_add_array(self._ctx, action, number, len(compares), array) != 0:
            raise OSError(f"seccomp: cannot add a rule for {name}")

    def load(self) -> None:
        if self._lib.seccomp_load(self._ctx) != 0:
            raise OSError("seccomp: cannot load the filter")


def _libseccomp() -> ctypes.CDLL:
    lib = ctypes.CDLL("libseccomp.so.2")
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint32,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.POINTER(_Compare),
    ]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


def load_unit_filters(unit: Path) -> None:
    """Load, into this process, the seccomp filters the unit's settings describe."""
    settings = unit_settings(unit)
    lib = _libseccomp()
    if settings.get("MemoryDenyWriteExecute", ["no"])[-1] == "yes":
        refuse = _errno_action(errno.EPERM)
        write_execute = _Filter(lib, _ALLOW)
        write_execute.rule(refuse, "mmap", (2, _CMP_MASKED_EQ, _PROT_WRITE | _PROT_EXEC))
        write_execute.rule(refuse, "mprotect", (2, _CMP_MASKED_EQ, _PROT_EXEC))
        write_execute.rule(refuse, "pkey_mprotect", (2, _CMP_MASKED_EQ, _PROT_EXEC))
        write_execute.rule(refuse, "shmat", (2, _CMP_MASKED_EQ, _SHM_EXEC))
        write_execute.load()
    if settings.get("RestrictAddressFamilies"):
        allowed = {getattr(socket, name) for name in settings["RestrictAddressFamilies"][-1].split()}
        refuse = _errno_action(errno.EAFNOSUPPORT)
        families = _Filter(lib, _ALLOW)
        families.rule(refuse, "socket", (0, _CMP_GE, _AF_MAX))
        for family in sorted(set(range(_AF_MAX)) - allowed):
            families.rule(refuse, "socket", (0, _CMP_EQ, family))
        families.load()
    if settings.get("SystemCallFilter"):  # last, as systemd does: it may forbid loading another filter
        error = getattr(errno, settings.get("SystemCallErrorNumber", ["EPERM"])[-1])
        allow_list = _Filter(lib, _errno_action(error))
        for name in sorted(_allowed_calls(settings["SystemCallFilter"], _syscall_groups())):
            allow_list.rule(_ALLOW, name)
        allow_list.load()


def sandbox_launcher(unit: Path) -> tuple[str, ...]:
    """What to put before a command line to run it under `unit`'s system call filters (with the
    repository on PYTHONPATH)."""
    return (sys.executable, "-m", "tests.support.unit_sandbox", str(unit))


if __name__ == "__main__":
    unit_file, program, *args = sys.argv[1:]
    load_unit_filters(Path(unit_file))
    os.execv(program, [program, *args])
