"""The name of the appliance's latest database migration, which `/api/version` reports as `schema`."""

from __future__ import annotations

from importlib import resources

LATEST_SCHEMA = max(
    p.name.removesuffix(".sql")
    for p in (resources.files("appliance.store") / "migrations" / "sqlite").iterdir()
    if p.name.endswith(".sql")
)
