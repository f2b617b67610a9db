"""A browser-less visitor of the web console over real HTTP: its cookies (the session and the
CSRF nonce) in an httpx client, and the CSRF token of the last page it read."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

__all__ = ["ConsoleVisitor", "csrf_token_of", "pending_folder"]

_CSRF_FIELD = re.compile(r'name="_csrf" value="([0-9a-f]+)"')


def csrf_token_of(html: str) -> str:
    found = _CSRF_FIELD.search(html)
    assert found, "the page holds no form with a CSRF token"
    return found.group(1)


class ConsoleVisitor:
    """One browser: `log_in` through the login form, then `get` pages and `post` forms."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, follow_redirects=False, timeout=30)
        self.csrf = csrf_token_of(self.get("/console/login").text)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.get(path, **kwargs)
        if "_csrf" in response.text:
            self.csrf = csrf_token_of(response.text)
        return response

    def post(self, path: str, data: dict[str, str] | None = None, *, csrf: bool = True) -> httpx.Response:
        """POST a form, with the CSRF token of the last page read unless `csrf` is False."""
        form = {**(data or {}), **({"_csrf": self.csrf} if csrf else {})}
        return self.client.post(path, data=form)

    def log_in(self, email: str, password: str) -> ConsoleVisitor:
        response = self.post("/console/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        self.get("/console/folders")  # the forms of a session carry a token bound to it
        return self

    def close(self) -> None:
        self.client.close()


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
