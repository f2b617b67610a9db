"""The shared test data beside the repository (`../shared/data`) or where APPLIANCE_TEST_DATA points.

CI has it; a newcomer's clone may not, and tests that need it skip with that reason."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["SHARED_DATA", "SKIP_REASON", "shared_file"]

SHARED_DATA = Path(os.environ.get("APPLIANCE_TEST_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data")
SKIP_REASON = "shared test data directory absent (set APPLIANCE_TEST_DATA)"


def shared_file(relative: str) -> Path | None:
    """The shared file at `relative`, or None where the shared data is absent."""
    path = SHARED_DATA / relative
    return path if path.is_file() else None
