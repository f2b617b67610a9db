"""`appliance demo`: post a real folder to a running appliance and print its result.

It goes through the public API like any integrator, with the Python client (clients/python): log
in, upload media with tags and the analyses to run in one request (the single-request mode), and
print what came back.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import tempfile
from dataclasses import dataclass
from pathlib import Path

import click
import httpx
import msgspec
from appliance_client import ApiError, Client, Folder, Upload, Version

from appliance.cli.common import fail, read_password, settings_or_fail, user_errors
from appliance.cli.run_lock import running_url
from appliance.cli.sample_media import write_samples
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
    """`path` or `path:tag1,tag2`."""
    path_text, _, tags_text = spec.partition(":")
    path = Path(path_text)
    if not path.is_file():
        fail(f"no such file: {path}")
    kind = _kind_of(path)
    return _Media(path, kind, [t for t in tags_text.split(",") if t] or _DEFAULT_TAGS[kind])


def _kind_of(path: Path) -> MediaKind:
    """Guessed from the name (the appliance sniffs the content)."""
    guessed = mimetypes.guess_type(path.name)[0] or ""
    if guessed == "application/zip":
        return MediaKind.SHOTS_SET
    return MediaKind.VIDEO if guessed.startswith("video") else MediaKind.IMAGE


def _runnable_types(version: Version, media: list[_Media]) -> list[str]:
    """Every installed analysis type whose media rule the given media meet."""
    rules = {t: MediaRule.from_dict(msgspec.structs.asdict(rule)) for t, rule in version.media_rules.items()}
    return [t for t in version.analysis_types if t in rules and rules[t].is_met_by(media)]


def _chosen_types(version: Version, requested: tuple[str, ...], media: list[_Media]) -> list[str]:
    """The analyses to run: those asked for, each installed, or every one the media can run."""
    installed = version.analysis_types
    if unknown := [t for t in requested if t.upper() not in installed]:
        fail(f"no installed analysis type {', '.join(unknown)}; installed: {', '.join(installed)}")
    types = [t.upper() for t in requested] or _runnable_types(version, media)
    if not types:
        fail("no installed analysis takes these media (check their tags); name one with --analysis")
    return types


def _summary(folder: Folder) -> str:
    lines = [f"folder {folder.folder_id}: {folder.resolution_status} / {folder.system_resolution}"]
    for analysis in folder.analyses or []:
        line = f"  {analysis.type:<12} {analysis.state:<10} {analysis.resolution_status}"
        if analysis.error_message:
            line += f"  ({analysis.error_message})"
        lines.append(line)
        if analysis.results_data:
            lines.append(f"    results_data: {json.dumps(analysis.results_data)}")
        for item in analysis.results_media:
            lines.append(f"    media {item.source_media_id}: {json.dumps(item.results_data)}")
    return "\n".join(lines)


@click.command()
@click.option(
    "--url",
    default=None,
    help="Base URL of the appliance (default: the `appliance run` of this data directory, else the settings').",
)
@click.option("--email", default="admin@appliance.local", show_default=True)
@click.option("--media", "media_specs", multiple=True, help="FILE or FILE:tag1,tag2 (repeatable).")
@click.option("--sample", is_flag=True, help="Post a sample selfie photo and video made on the spot instead of files.")
@click.option(
    "--write-sample",
    "sample_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Only write the sample media (selfie.jpg, clip.mp4) into this directory, e.g. for curl.",
)
@click.option(
    "--analysis",
    "analysis_types",
    multiple=True,
    help="Analysis type to run (repeatable; default: every installed type the media can run).",
)
@user_errors
def demo(
    url: str | None,
    email: str,
    media_specs: tuple[str, ...],
    sample: bool,
    sample_dir: Path | None,
    analysis_types: tuple[str, ...],
) -> None:
    """Upload media, run analyses in one request and print the folder's result.

    The password comes from APPLIANCE_ADMIN_PASSWORD or a prompt.
    """
    if sample_dir is not None:
        for written in write_samples(sample_dir):
            click.echo(f"{written.path} ({','.join(written.tags)})")
        return
    if sample == bool(media_specs):
        fail("give --media FILE[:tags] (repeatable) or --sample")
    if sample:
        with tempfile.TemporaryDirectory(prefix="appliance-demo-") as directory:
            media = [_Media(m.path, _kind_of(m.path), m.tags) for m in write_samples(Path(directory))]
            _demo(url, email, media, analysis_types)
    else:
        _demo(url, email, [_parse_media(s) for s in media_specs], analysis_types)


def _demo(url: str | None, email: str, media: list[_Media], analysis_types: tuple[str, ...]) -> None:
    settings = settings_or_fail()
    logging.getLogger("httpx").setLevel(logging.WARNING)  # its request lines are not results
    base = (url or running_url(settings.data_path) or f"http://{settings.api.host}:{settings.api.port}").rstrip("/")
    password = read_password("APPLIANCE_ADMIN_PASSWORD", f"Password for {email}")
    try:
        _post_folder(base, settings.api.single_request_timeout_seconds + 30, email, password, media, analysis_types)
    except httpx.TransportError as exc:
        fail(f"nothing answers at {base} ({exc}): start the appliance (./scripts/run) or give its address with --url")


def _post_folder(
    base: str, timeout: float, email: str, password: str, media: list[_Media], analysis_types: tuple[str, ...]
) -> None:
    with Client(base, timeout=timeout) as client:
        try:
            client.login(email, password)
        except ApiError as exc:
            fail(f"login failed: {exc.message}")
        types = _chosen_types(client.version(), analysis_types, media)
        try:
            folder = client.create_folder([Upload(m.path, m.tags) for m in media], analyses=types)
        except ApiError as exc:
            fail(f"upload refused ({exc.status_code}): {exc.message}")
        click.echo(_summary(folder))
