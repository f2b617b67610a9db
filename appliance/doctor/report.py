"""The doctor's results: one `DoctorCheck` per check, as a table for people or JSON for machines."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from appliance.sdk.types import DoctorCheck

__all__ = ["Report", "verdict"]

#: At most this many problems are named in one check's detail; the rest are counted.
MAX_NAMED = 3


def verdict(name: str, problems: Sequence[str], warnings: Sequence[str], ok_detail: str) -> DoctorCheck:
    """`fail` naming the problems, else `warn` naming the warnings, else `ok` with `ok_detail`."""
    for status, found in (("fail", problems), ("warn", warnings)):
        if found:
            named = "; ".join(found[:MAX_NAMED])
            more = f" (and {len(found) - MAX_NAMED} more)" if len(found) > MAX_NAMED else ""
            return DoctorCheck(name, status, named + more)  # type: ignore[arg-type]
    return DoctorCheck(name, "ok", ok_detail)


@dataclass(frozen=True)
class Report:
    checks: tuple[DoctorCheck, ...]

    @property
    def ok(self) -> bool:
        """No check failed (warnings allowed)."""
        return all(check.status != "fail" for check in self.checks)

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def table(self) -> str:
        rows = [("check", "status", "detail"), *((c.name, c.status, c.detail) for c in self.checks)]
        width = [max(len(row[i]) for row in rows) for i in range(2)]
        return "\n".join(f"{n:<{width[0]}}  {s:<{width[1]}}  {d}".rstrip() for n, s, d in rows)

    def json(self) -> str:
        checks = [{"check": c.name, "status": c.status, "detail": c.detail} for c in self.checks]
        return json.dumps({"ok": self.ok, "checks": checks}, indent=2)
