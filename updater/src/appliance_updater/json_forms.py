"""JSON as the updater signs it (canonical) and writes it (pretty). Durable file writes are the model
store's (appliance_modelstore.files), shared with the appliance."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json", "pretty_json"]


def canonical_json(value: Any) -> bytes:
    """The bytes signed for a JSON value: sorted keys, no spaces, UTF-8."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def pretty_json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode("utf-8") + b"\n"
