"""`appliance demo`: post a real folder to a running appliance and print its result.

It goes through the public API like any integrator: log in, upload media with tags and the
analyses to run in one request (the single-request mode), and print what came back.
"""

from __future__ import annotations

import json
import mimetypes
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import httpx

from appliance.cli.common import fail, read_password, settings_or_fail, user_errors
from appliance.domain.enums import MediaKind
from appliance.domain.rules import MediaRule

_DEFAULT_TAGS = {
    MediaKind.IMAGE: ["photo_selfie"],
    MediaKind.VIDEO: ["video_selfie", "video_selfie_blank"],
    MediaKind.SHOTS_SET: ["video_selfie", "video_selfie_blank"],
}


@dataclass(frozen=True)
class _Media:
    path: Path
    kind: MediaKind
    tags: list[str]


def _parse_media(spec: str) -> _Media:
    """`path` or `path:tag1,tag2`; the kind is guessed from the name (the appliance sniffs the content)."""
    path_text, _, tags_text = spec.partition(":")
    path = Path(path_text)
    if not path.is_file():
        fail(f"no such file: {path}")
    guessed = mimetypes.guess_type(path.name)[0] or ""
    kind = (
        MediaKind.SHOTS_SET
        if guessed == "application/zip"
        else MediaKind.VIDEO
        if guessed.startswith("video")
        else MediaKind.IMAGE
    )
    return _Media(path, kind, [t for t in tags_text.split(",") if t] or _DEFAULT_TAGS[kind])


def _runnable_types(version: dict[str, Any], media: list[_Media]) -> list[str]:
    """Every installed analysis type whose media rule the given media meet."""
    rules = version.get("media_rules", {})
    installed = [t for p in version["plugins"] for t in p["analysis_types"]]
    return [t for t in installed if t in rules and MediaRule.from_dict(rules[t]).is_met_by(media)]


def _summary(folder: dict[str, Any]) -> str:
    lines = [f"folder {folder['folder_id']}: {folder['resolution_status']} / {folder['system_resolution']}"]
    for analysis in folder.get("analyses", []):
        line = f"  {analysis['type']:<12} {analysis['state']:<10} {analysis['resolution_status']}"
        if analysis.get("error_message"):
            line += f"  ({analysis['error_message']})"
        lines.append(line)
        if analysis.get("results_data"):
            lines.append(f"    results_data: {json.dumps(analysis['results_data'])}")
        for item in analysis.get("results_media", []):
            lines.append(f"    media {item['source_media_id']}: {json.dumps(item['results_data'])}")
    return "\n".join(lines)


@click.command()
@click.option("--url", default=None, help="Base URL of the appliance (default: from the settings).")
@click.option("--email", default="admin@appliance.local", show_default=True)
@click.option("--media", "media_specs", multiple=True, required=True, help="FILE or FILE:tag1,tag2 (repeatable).")
@click.option(
    "--analysis",
    "analysis_types",
    multiple=True,
    help="Analysis type to run (repeatable; default: every installed type the media can run).",
)
@user_errors
def demo(url: str | None, email: str, media_specs: tuple[str, ...], analysis_types: tuple[str, ...]) -> None:
    """Upload media, run analyses in one request and print the folder's result.

    The password comes from APPLIANCE_ADMIN_PASSWORD or a prompt.
    """
    settings = settings_or_fail()
    base = (url or f"http://{settings.api.host}:{settings.api.port}").rstrip("/")
    media = [_parse_media(s) for s in media_specs]
    password = read_password("APPLIANCE_ADMIN_PASSWORD", f"Password for {email}")
    with httpx.Client(base_url=base, timeout=settings.api.single_request_timeout_seconds + 30) as client:
        login = client.post("/api/authorize/auth", json={"credentials": {"email": email, "password": password}})
        if login.status_code != 200:
            fail(f"login failed: {login.json().get('error_message', login.text)}")
        client.headers["X-Forensic-Access-Token"] = login.json()["access_token"]
        types = list(analysis_types) or _runnable_types(client.get("/api/version").json(), media)
        if not types:
            fail("no installed analysis takes these media (check their tags); name one with --analysis")
        payload = {
            "media:tags": {f"media{i}": m.tags for i, m in enumerate(media)},
            "analyses": [{"type": t} for t in types],
        }
        files = [(f"media{i}", (m.path.name, m.path.read_bytes())) for i, m in enumerate(media)]
        response = client.post("/api/folders/", data={"payload": json.dumps(payload)}, files=files)
        if response.status_code != 201:
            fail(f"upload refused ({response.status_code}): {response.json().get('error_message', response.text)}")
        click.echo(_summary(response.json()))
