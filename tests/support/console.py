"""The console tests' visitor (`ConsoleVisitor`, a browser-less browser of the console over real
HTTP, from the plugin test kit), and a folder waiting for an operator decision."""

from __future__ import annotations

import json
from typing import Any

import httpx

from appliance.sdk.testing import ConsoleVisitor, csrf_token_of

__all__ = ["ConsoleVisitor", "csrf_token_of", "pending_folder"]


def pending_folder(client: httpx.Client, jpeg: bytes, resolution_endpoint: str | None = None) -> str:
    """A new folder (one photo, BRIGHTNESS set to answer OPERATOR_REQUIRED) that waits for an
    operator decision, created through the API by `client`'s user; its id once resolved."""
    payload: dict[str, Any] = {
        "media:tags": {"photo": ["photo_selfie"]},
        "analyses": [{"type": "brightness", "params": {"in_range_resolution": "OPERATOR_REQUIRED"}}],
        "resolution_endpoint": resolution_endpoint,
    }
    created = client.post(
        "/api/folders", data={"payload": json.dumps(payload)}, files={"photo": ("selfie.jpg", jpeg, "image/jpeg")}
    )
    assert created.status_code == 201, created.text
    folder = created.json()
    assert (folder["resolution_status"], folder["system_resolution"]) == ("FINISHED", "OPERATOR_REQUIRED"), folder
    return folder["folder_id"]
