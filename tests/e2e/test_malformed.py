"""Malformed requests and files over real HTTP: each is refused with a 4xx and the error code
docs/errors.md gives it, and leaves nothing behind.

One appliance (SQLite) serves the whole module, with small limits so that "too many" cases stay
cheap. It runs no worker and no scheduler: nothing these cases send may start work, and a preview
worker would write derived files while a case is being checked. Every request goes through
`refuse`, which compares the stored files, media/tmp and the database row counts before and after.

Every valid photo sent is new content (`photo`), so that a file a refused request leaves behind shows
up as a new file under media/files instead of deduplicating into one stored before.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import sqlite3
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.auth.sessions import hash_token
from appliance.domain.entities import Session
from appliance.domain.errors import ErrorCode
from appliance.store import open_store
from tests.support.live import ADMIN_EMAIL, REPO_ROOT, LiveAppliance, running_appliance
from tests.support.media_samples import astronaut_rgb, build_malformed_samples, jpeg_bytes, write_video

pytestmark = pytest.mark.timeout(180)

MAX_FILE_BYTES = 1_000_000
MAX_FILES_PER_REQUEST = 3
#: Small enough to be cheap, large enough for the valid 512x512 JPEGs; every malformed sample keeps
#: the code it is built for (it is far over the size, pixel, duration and entry limits alike).
LIMITS = {
    "LIMITS__MAX_FILE_BYTES": str(MAX_FILE_BYTES),
    "LIMITS__MAX_FILES_PER_REQUEST": str(MAX_FILES_PER_REQUEST),
    "LIMITS__MAX_IMAGE_PIXELS": "1000000",
    "LIMITS__MAX_VIDEO_SECONDS": "10",
    "LIMITS__MAX_ARCHIVE_ENTRIES": "50",
}
OPERATOR_EMAIL, OPERATOR_PASSWORD = "operator@appliance.test", "operator-pass-1"
COUNTED_TABLES = ("folders", "media", "analyses", "webhook_deliveries")
BOUNDARY = "malformed-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
FOLDERS = "/api/folders/"
INSTANT = "/api/instant/folders/"

#: Every sample of `build_malformed_samples`, each uploaded on its own (checked by
#: `test_every_malformed_sample_is_covered`).
MALFORMED_SAMPLES = (
    "empty", "text", "pdf", "gif", "heic_header", "truncated_jpeg", "truncated_png", "jpeg_header_only",
    "jpeg_garbage", "webp_garbage", "truncated_mp4", "truncated_avi", "mp4_header_only", "png_50000x50000",
    "png_8000x6000", "video_too_long", "oversize", "zip_dotdot", "zip_absolute", "zip_backslash", "zip_drive",
    "zip_symlink", "zip_duplicate", "zip_too_many_entries", "zip_bomb", "zip_non_image", "zip_video_entry",
    "zip_truncated_image", "zip_pixel_bomb", "zip_no_images", "zip_empty", "zip_garbage",
)  # fmt: skip
#: Malformed samples sent after a valid file in the same request.
AFTER_VALID_SAMPLES = ("truncated_jpeg", "zip_dotdot", "video_too_long")


def _documented_errors() -> dict[int, tuple[str, int]]:
    """code -> (name, HTTP status), from the table of docs/errors.md (analysis-only codes have none)."""
    table = (REPO_ROOT / "docs" / "errors.md").read_text()
    rows = re.findall(r"^\| (\d+) \| (\w+) \| (\d{3}) \|", table, re.MULTILINE)
    return {int(code): (name, int(status)) for code, name, status in rows}


DOCUMENTED_ERRORS = _documented_errors()


# Multipart bodies, byte for byte ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    content: bytes
    #: A file part has a filename; a form field has none.
    filename: str | None = None


def payload(value: Any) -> Part:
    return Part("payload", json.dumps(value).encode())


@functools.cache
def _astronaut_jpeg() -> bytes:
    return jpeg_bytes(astronaut_rgb())


def photo(key: str = "photo1") -> Part:
    """A valid JPEG no request has sent before: the astronaut with a random comment segment."""
    jpeg, comment = _astronaut_jpeg(), uuid.uuid4().hex.encode()
    return Part(key, jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:], f"{key}.jpg")


@functools.cache
def _mp4() -> bytes:
    with tempfile.TemporaryDirectory() as scratch:
        return write_video(Path(scratch) / "clip.mp4", "mp4v", side=160).read_bytes()


def video(key: str = "video1") -> Part:
    """A valid MP4 (the same bytes each time: a refusal that kept it would show as a new stored file)."""
    return Part(key, _mp4(), f"{key}.mp4")


def multipart(parts: list[Part]) -> bytes:
    """The parts in the order given (clients like httpx put form fields before files)."""
    body = bytearray()
    for part in parts:
        disposition = f'form-data; name="{part.name}"' + (f'; filename="{part.filename}"' if part.filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + part.content + b"\r\n"
    return bytes(body + f"--{BOUNDARY}--\r\n".encode())


# The appliance and what the cases need from it ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Setup:
    live: LiveAppliance
    admin_token: str
    expired_token: str
    operator_token: str
    #: A folder with one media, and a media of another folder.
    folder_id: str
    other_media_id: str
    samples: dict[str, tuple[Path, ErrorCode]]

    def call(
        self,
        method: str,
        path: str,
        *,
        auth: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """One request, on a fresh connection; `auth` replaces the admin's token header."""
        token = {"X-Forensic-Access-Token": self.admin_token} if auth is None else auth
        with httpx.Client(base_url=self.live.base_url, timeout=60) as client:
            return client.request(method, path, headers={**token, **(headers or {})}, **kwargs)

    def upload(
        self, path: str, parts: list[Part], *, auth: dict[str, str] | None = None, content_type: str = MULTIPART
    ) -> httpx.Response:
        return self.call("POST", path, auth=auth, headers={"Content-Type": content_type}, content=multipart(parts))

    def sample(self, name: str, key: str = "media1") -> Part:
        path, _ = self.samples[name]
        return Part(key, path.read_bytes(), path.name)


def _create_folder(client: httpx.Client) -> dict[str, Any]:
    response = client.post(FOLDERS, content=multipart([payload({}), photo()]), headers={"Content-Type": MULTIPART})
    assert response.status_code == 201, response.text
    return response.json()


def _expired_token(live: LiveAppliance) -> str:
    """An access token of the admin whose session expired an hour ago, written straight into the database."""
    store = open_store(f"sqlite:///{live.data_dir / 'appliance.db'}")
    try:
        admin = store.get_user_by_email(ADMIN_EMAIL)
        assert admin is not None
        token, past = secrets.token_urlsafe(32), datetime.now(UTC) - timedelta(hours=1)
        session_id, expire_hash = str(uuid.uuid4()), hash_token(secrets.token_urlsafe(32))
        store.create_session(Session(session_id, admin.user_id, hash_token(token), expire_hash, past, past))
    finally:
        store.close()
    return token


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    samples = build_malformed_samples(tmp_path_factory.mktemp("malformed"))
    with running_appliance(tmp_path_factory.mktemp("appliance"), workers={}, scheduler=False, **LIMITS) as live:
        admin_token = live.login()
        with live.client(admin_token) as admin:
            folder, other = _create_folder(admin), _create_folder(admin)
            operator = admin.post(
                "/api/users/", json={"email": OPERATOR_EMAIL, "password": OPERATOR_PASSWORD, "user_type": "OPERATOR"}
            )
            assert operator.status_code == 201, operator.text
        yield Setup(
            live=live,
            admin_token=admin_token,
            expired_token=_expired_token(live),
            operator_token=live.login(OPERATOR_EMAIL, OPERATOR_PASSWORD),
            folder_id=folder["folder_id"],
            other_media_id=other["media"][0]["media_id"],
            samples=samples,
        )


# The check every case goes through --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Footprint:
    #: Relative to the storage root: content files and derived files.
    stored_files: frozenset[str]
    tmp_files: frozenset[str]
    rows: dict[str, int]


def _files(directory: Path, root: Path) -> frozenset[str]:
    return frozenset(str(p.relative_to(root)) for p in directory.rglob("*") if p.is_file())


def _footprint(data_dir: Path) -> Footprint:
    storage = data_dir / "media"
    with closing(sqlite3.connect(f"{(data_dir / 'appliance.db').as_uri()}?mode=ro", uri=True)) as db:
        rows = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in COUNTED_TABLES}
    return Footprint(
        stored_files=_files(storage / "files", storage) | _files(storage / "derived", storage),
        tmp_files=_files(storage / "tmp", storage),
        rows=rows,
    )


Send = Callable[[Setup], httpx.Response]


def refuse(setup: Setup, send: Send, code: ErrorCode) -> None:
    """Send one bad request: it must get `code` with its documented status, and leave no file and no row."""
    before = _footprint(setup.live.data_dir)
    response = send(setup)
    name, status = DOCUMENTED_ERRORS[code]
    assert 400 <= status < 500 and response.status_code == status, response.text
    body = response.json()
    assert type(body["error_code"]) is int and body["error_code"] == code, body
    assert body["error_name"] == name and isinstance(body["error_message"], str) and body["error_message"], body
    after = _footprint(setup.live.data_dir)
    assert after.tmp_files == frozenset(), f"left in media/tmp: {sorted(after.tmp_files)}"
    assert after.stored_files == before.stored_files, (
        f"files added: {sorted(after.stored_files - before.stored_files)},"
        f" removed: {sorted(before.stored_files - after.stored_files)}"
    )
    assert after.rows == before.rows


# Malformed files on every upload endpoint -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    path: Callable[[Setup], str]
    #: The smallest payload the endpoint accepts, so that the file is what gets refused.
    payload: dict[str, Any]


ENDPOINTS = {
    "create_folder": Endpoint(lambda s: FOLDERS, {}),
    "add_media": Endpoint(lambda s: f"/api/folders/{s.folder_id}/media", {}),
    "instant": Endpoint(lambda s: INSTANT, {"analyses": [{"type": "BRIGHTNESS"}]}),
}


def test_every_malformed_sample_is_covered(setup: Setup) -> None:
    assert sorted(setup.samples) == sorted(MALFORMED_SAMPLES)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("sample", MALFORMED_SAMPLES)
def test_malformed_file(setup: Setup, endpoint: str, sample: str) -> None:
    target = ENDPOINTS[endpoint]
    refuse(
        setup,
        lambda s: s.upload(target.path(s), [payload(target.payload), s.sample(sample)]),
        setup.samples[sample][1],
    )


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("sample", AFTER_VALID_SAMPLES)
def test_valid_file_then_malformed_file(setup: Setup, endpoint: str, sample: str) -> None:
    """The valid file is stored first; refusing the second must remove it again."""
    target = ENDPOINTS[endpoint]
    refuse(
        setup,
        lambda s: s.upload(target.path(s), [payload(target.payload), photo(), s.sample(sample, "media2")]),
        setup.samples[sample][1],
    )


# Malformed requests -----------------------------------------------------------------------------


def _with_photo(body: Any, endpoint: str = "create_folder") -> Send:
    """An upload of a valid photo with `body` as its payload."""
    return lambda s: s.upload(ENDPOINTS[endpoint].path(s), [payload(body), photo()])


def _tagged(part: Callable[[], Part], tags: list[str], endpoint: str) -> Send:
    """An upload of one file with `tags` (checked against its content)."""
    target = ENDPOINTS[endpoint]
    return lambda s: s.upload(
        target.path(s), [payload({**target.payload, "media:tags": {part().name: tags}}), photo("photo9"), part()]
    )


def _analyse_media_of_another_folder(s: Setup) -> httpx.Response:
    analysis = {"type": "BRIGHTNESS", "source_media": [s.other_media_id]}
    return s.upload(FOLDERS, [payload({"analyses": [analysis]}), photo()])


def _upload_as(auth: Callable[[Setup], dict[str, str]]) -> Send:
    """A folder upload of the valid photo with these credentials."""
    return lambda s: s.upload(FOLDERS, [payload({}), photo()], auth=auth(s))


def _truncated_upload(s: Setup) -> httpx.Response:
    body = multipart([payload({}), photo()])
    return s.call("POST", FOLDERS, headers={"Content-Type": MULTIPART}, content=body[: len(body) // 2])


def _photo_over_size_limit() -> Part:
    valid = photo("photo2")
    return Part(valid.name, valid.content + bytes(MAX_FILE_BYTES + 1 - len(valid.content)), "padded.jpg")


def _start(analysis: Callable[[Setup], dict[str, Any]]) -> Send:
    return lambda s: s.call("POST", f"/api/folders/{s.folder_id}/analyses", json={"analyses": [analysis(s)]})


def _webhook_to(url: str, where: str = "create_folder") -> Send:
    """`url` set as a webhook target: a folder's resolution_endpoint (at upload or when analyses
    start) or a company's webhook_url; the appliance runs with the default `webhooks` settings."""
    if where == "start_analyses":
        body = {"analyses": [{"type": "BRIGHTNESS"}], "resolution_endpoint": url}
        return lambda s: s.call("POST", f"/api/folders/{s.folder_id}/analyses", json=body)
    if where == "company":
        return lambda s: s.call("POST", "/api/companies/", json={"name": f"c-{uuid.uuid4()}", "webhook_url": url})
    return _with_photo({"resolution_endpoint": url})


def _list(**query: str) -> Send:
    return lambda s: s.call("GET", FOLDERS, params=query)


def _log_in(content: bytes) -> Send:
    json_type = {"Content-Type": "application/json"}
    return lambda s: s.call("POST", "/api/authorize/auth", auth={}, headers=json_type, content=content)


E = ErrorCode
REQUEST_CASES: dict[str, tuple[Send, ErrorCode]] = {
    # the payload part
    "payload_not_json": (lambda s: s.upload(FOLDERS, [Part("payload", b"{nope"), photo()]), E.PAYLOAD_INVALID),
    "payload_json_array": (_with_photo(["photo1"]), E.PAYLOAD_INVALID),
    "payload_tags_not_an_object": (_with_photo({"media:tags": ["photo_selfie"]}), E.PAYLOAD_INVALID),
    "payload_tags_not_a_list": (_with_photo({"media:tags": {"photo1": "photo_selfie"}}), E.PAYLOAD_INVALID),
    "payload_unknown_field": (_with_photo({"media_tags": {"photo1": ["photo_selfie"]}}), E.PAYLOAD_INVALID),
    "payload_too_large": (_with_photo({"folder:meta_data": {"note": "x" * 300_000}}), E.PAYLOAD_INVALID),
    "payload_twice": (lambda s: s.upload(FOLDERS, [payload({}), payload({}), photo()]), E.PAYLOAD_INVALID),
    "unknown_tag": (_with_photo({"media:tags": {"photo1": ["photo_selfie", "no_such_tag"]}}), E.UNKNOWN_TAG),
    "tags_of_a_file_not_sent": (_with_photo({"media:tags": {"video1": ["video_selfie"]}}), E.UNKNOWN_MEDIA_KEY),
    "meta_data_of_a_file_not_sent": (_with_photo({"media:meta_data": {"video1": {"a": 1}}}), E.UNKNOWN_MEDIA_KEY),
    "webhook_not_http": (_with_photo({"resolution_endpoint": "ftp://example.test/hook"}), E.INVALID_VALUE),
    # webhook targets (docs/configuration.md, "Webhook targets"): loopback however written, the
    # cloud metadata address, Redis on this host
    **{
        f"webhook_to_{what}_on_{where}": (_webhook_to(url, where), E.WEBHOOK_TARGET_REFUSED)
        for where in ("create_folder", "start_analyses", "company")
        for what, url in (
            ("loopback_redis", "http://127.0.0.1:6379/"),
            ("ipv6_loopback", "http://[::1]:8080/hook"),
            ("link_local_metadata", "http://169.254.169.254/latest/meta-data/"),
        )
    },
    "webhook_to_localhost_by_name": (_webhook_to("http://localhost:9000/hook"), E.WEBHOOK_TARGET_REFUSED),
    "webhook_to_loopback_as_a_number": (_webhook_to("http://2130706433/hook"), E.WEBHOOK_TARGET_REFUSED),
    "webhook_to_ipv4_mapped_loopback": (_webhook_to("http://[::ffff:127.0.0.1]/"), E.WEBHOOK_TARGET_REFUSED),
    "webhook_to_unspecified": (_webhook_to("https://0.0.0.0/hook"), E.WEBHOOK_TARGET_REFUSED),
    # the content against its tags, after a valid photo that must go again
    **{
        f"{what}_on_{endpoint}": (_tagged(part, tags, endpoint), E.MEDIA_TAG_MISMATCH)
        for endpoint in ENDPOINTS
        for what, part, tags in (
            ("photo_tagged_video_selfie", photo, ["video_selfie"]),
            ("video_tagged_photo_selfie", video, ["photo_selfie"]),
            ("video_tagged_photo_id_front", video, ["orientation_portrait", "photo_id_front"]),
        )
    },
    "no_analyses_listed": (_with_photo({"analyses": []}), E.INVALID_VALUE),
    "analysis_type_not_a_name": (_with_photo({"analyses": [{"type": "../x"}]}), E.INVALID_VALUE),
    "source_media_of_another_folder": (_analyse_media_of_another_folder, E.NOT_EXIST),
    # the multipart body
    "not_multipart": (lambda s: s.call("POST", FOLDERS, json={"payload": {}}), E.PAYLOAD_INVALID),
    "multipart_without_boundary": (
        lambda s: s.upload(FOLDERS, [payload({}), photo()], content_type="multipart/form-data"),
        E.PAYLOAD_INVALID,
    ),
    "multipart_truncated": (_truncated_upload, E.PAYLOAD_INVALID),
    "file_then_form_field": (lambda s: s.upload(FOLDERS, [photo(), Part("note", b"hello")]), E.PAYLOAD_INVALID),
    "same_file_key_twice": (lambda s: s.upload(FOLDERS, [payload({}), photo(), photo()]), E.PAYLOAD_INVALID),
    "no_files": (lambda s: s.upload(FOLDERS, [payload({})]), E.PAYLOAD_INVALID),
    "too_many_files": (
        lambda s: s.upload(FOLDERS, [payload({}), *(photo(f"photo{i}") for i in range(MAX_FILES_PER_REQUEST + 1))]),
        E.TOO_MANY_FILES,
    ),
    "valid_file_then_file_over_size_limit": (
        lambda s: s.upload(FOLDERS, [payload({}), photo(), _photo_over_size_limit()]),
        E.MEDIA_TOO_LARGE,
    ),
    # credentials
    "no_token": (_upload_as(lambda s: {}), E.AUTH_NOT_PROVIDED),
    "unknown_token": (_upload_as(lambda s: {"X-Forensic-Access-Token": "not-a-token"}), E.AUTH_INVALID),
    "garbage_bearer_token": (_upload_as(lambda s: {"Authorization": "Bearer garbage"}), E.AUTH_INVALID),
    "expired_bearer_token": (_upload_as(lambda s: {"Authorization": f"Bearer {s.expired_token}"}), E.AUTH_EXPIRED),
    "operator_may_not_upload": (_upload_as(lambda s: {"X-Forensic-Access-Token": s.operator_token}), E.AUTH_FORBIDDEN),
    # the other endpoints
    "add_media_to_unknown_folder": (
        lambda s: s.upload(f"/api/folders/{uuid.uuid4()}/media", [payload({}), photo()]),
        E.NOT_EXIST,
    ),
    "add_media_with_analyses": (_with_photo({"analyses": [{"type": "BRIGHTNESS"}]}, "add_media"), E.PAYLOAD_INVALID),
    "instant_without_analyses": (_with_photo({}, "instant"), E.PAYLOAD_INVALID),
    "instant_analysis_type_not_a_name": (_with_photo({"analyses": [{"type": "../x"}]}, "instant"), E.INVALID_VALUE),
    "start_analysis_on_media_of_another_folder": (
        _start(lambda s: {"type": "BRIGHTNESS", "source_media": [s.other_media_id]}),
        E.NOT_EXIST,
    ),
    "start_analysis_type_not_a_name": (_start(lambda s: {"type": "../x"}), E.INVALID_VALUE),
    "list_unknown_sorting": (_list(sorting="name{up}"), E.INVALID_VALUE),
    "list_limit_zero": (_list(limit="0"), E.INVALID_VALUE),
    "list_limit_not_a_number": (_list(limit="ten"), E.INVALID_STRUCTURE),
    "list_offset_past_a_sql_integer": (_list(offset=str(2**63)), E.INVALID_VALUE),
    "list_time_not_finite": (_list(**{"time_created.min": "nan"}), E.INVALID_VALUE),
    "list_time_past_the_calendar": (_list(**{"time_updated.max": "1e300"}), E.INVALID_VALUE),
    "login_body_not_json": (_log_in(b'{"credentials": {"email": '), E.INVALID_STRUCTURE),
    "login_credentials_not_an_object": (_log_in(b'{"credentials": "admin"}'), E.INVALID_STRUCTURE),
}


@pytest.mark.parametrize("case", REQUEST_CASES)
def test_malformed_request(setup: Setup, case: str) -> None:
    send, code = REQUEST_CASES[case]
    refuse(setup, send, code)
