"""Request bodies and text the appliance refuses at its edge, over real HTTP, on SQLite and on
PostgreSQL: the same answer on both (docs/errors.md, 150-152), and nothing written.

- JSON nested past `limits.max_json_depth` (a hundred thousand levels used to exhaust the stack:
  500) on a JSON body, the unauthenticated login included, and in the `payload` part;
- a NUL in a JSON string or key, a form part's or file's name, or the URL (PostgreSQL cannot store
  one: a psycopg DataError, 500, where SQLite stored it); a body that is not UTF-8;
- a JSON body over `limits.max_body_bytes` (50 MB of meta_data or analysis params used to be
  stored), by its Content-Length or as it streams in;
- refusals sent before the body was read, read by clients that send their whole body first
  (urllib, which also asks the server to close the connection after the answer: without the drain
  it read "connection reset"), and not waited for by a client that asked for `100 Continue`.

One appliance per store serves the module: the API alone, no worker, default limits.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import requests

from appliance.domain.errors import ErrorCode
from appliance.ops.settings import Limits
from appliance.sdk.testing import ConsoleVisitor
from appliance.web.responses import ERROR_CODE_HEADER
from tests.support.live import LiveAppliance, running_appliance
from tests.support.media_samples import astronaut_rgb, jpeg_bytes
from tests.support.postgres import create_database, drop_database, require_server

pytestmark = pytest.mark.timeout(300)

LIMITS = Limits()
TOKEN_HEADER = "X-Forensic-Access-Token"
BOUNDARY = "request-bodies-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
#: A hundred thousand nested arrays: 200,000 bytes, under the body limit, far past the depth limit.
DEEP = "[" * 100_000 + "]" * 100_000
FIFTY_MB = 50 * 1024 * 1024
E = ErrorCode
STATUS = {
    E.JSON_TOO_DEEP: 400,
    E.BODY_TOO_LARGE: 413,
    E.TEXT_INVALID_CHARACTER: 400,
    E.PAYLOAD_INVALID: 400,
    E.INVALID_STRUCTURE: 400,
}


@dataclass(frozen=True, slots=True)
class Setup:
    live: LiveAppliance
    token: str
    folder_id: str

    @property
    def url(self) -> str:
        return self.live.base_url

    def client(self, *, auth: bool = True) -> httpx.Client:
        return self.live.client(self.token if auth else None, timeout=120)

    def footprint(self) -> dict[str, Any]:
        """What a refused request must leave as it was: counts, and the test folder's meta_data."""
        with self.client() as client:
            folders = client.get("/api/folders/", params={"limit": 1}).json()["total"]
            users = client.get("/api/users/", params={"limit": 1}).json()["total"]
            folder = client.get(f"/api/folders/{self.folder_id}", params={"with_analyses": "true"}).json()
        return {
            "folders": folders,
            "users": users,
            "analyses": len(folder["analyses"]),
            "meta_data": folder["meta_data"],
        }


def multipart(payload: bytes, *files: tuple[str, str, bytes]) -> bytes:
    """A `payload` part and file parts (key, filename, content), byte for byte."""
    parts = [(b'form-data; name="payload"', payload)]
    parts += [(f'form-data; name="{key}"; filename="{name}"'.encode(), content) for key, name, content in files]
    body = b"".join(
        b"--" + BOUNDARY.encode() + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + content + b"\r\n"
        for disposition, content in parts
    )
    return body + b"--" + BOUNDARY.encode() + b"--\r\n"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def setup(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    database = {}
    if request.param == "postgres":
        server = require_server()
        database = {"DATABASE_URL": create_database(server)}
    try:
        with running_appliance(tmp_path_factory.mktemp("appliance"), workers={}, scheduler=False, **database) as live:
            token = live.login()
            with live.client(token) as client:
                photo = jpeg_bytes(astronaut_rgb())
                created = client.post(
                    "/api/folders/",
                    content=multipart(b"{}", ("photo1", "a.jpg", photo)),
                    headers={"Content-Type": MULTIPART},
                )
                assert created.status_code == 201, created.text
                assert client.patch(f"/api/folders/{created.json()['folder_id']}/meta_data", json={"k": 1}).is_success
            yield Setup(live, token, created.json()["folder_id"])
    finally:
        if database:
            drop_database(database["DATABASE_URL"], server)


def check_refusal(status: int, body: bytes | str, code: ErrorCode) -> None:
    answer = json.loads(body)
    assert (status, answer["error_code"], answer["error_name"]) == (STATUS[code], code, code.name), answer


def refuse(setup: Setup, send: Callable[[Setup], httpx.Response], code: ErrorCode) -> None:
    """`send` gets `code` with its status, and leaves the appliance as it was."""
    before = setup.footprint()
    answer = send(setup)
    check_refusal(answer.status_code, answer.content, code)
    assert setup.footprint() == before


def json_call(method: str, path: str, body: str | bytes, *, auth: bool = True) -> Callable[[Setup], httpx.Response]:
    def send(s: Setup) -> httpx.Response:
        with s.client(auth=auth) as client:
            url = path.format(folder=s.folder_id)
            return client.request(method, url, content=body, headers={"Content-Type": "application/json"})

    return send


def upload(payload: bytes, *files: tuple[str, str, bytes]) -> Callable[[Setup], httpx.Response]:
    def send(s: Setup) -> httpx.Response:
        with s.client() as client:
            return client.post("/api/folders/", content=multipart(payload, *files), headers={"Content-Type": MULTIPART})

    return send


def get(path: str) -> Callable[[Setup], httpx.Response]:
    def send(s: Setup) -> httpx.Response:
        with s.client() as client:
            return client.get(path)

    return send


def nested(depth: int) -> Any:
    """An object `depth` deep (a top-level object is 1 deep)."""
    value: Any = {}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


PHOTO = ("photo1", "a.jpg", b"not needed: refused before the files are looked at")
ANALYSES = "/api/folders/{folder}/analyses"
META = "/api/folders/{folder}/meta_data"
LOGIN = "/api/authorize/auth"


def _analyses(params: str) -> str:
    return '{"analyses": [{"type": "BRIGHTNESS", "params": ' + params + "}]}"


CASES: dict[str, tuple[Callable[[Setup], httpx.Response], ErrorCode]] = {
    # nested past the depth limit
    "deep_analysis_params": (json_call("POST", ANALYSES, _analyses(DEEP)), E.JSON_TOO_DEEP),
    "deep_meta_data": (json_call("PATCH", META, '{"x": ' + DEEP + "}"), E.JSON_TOO_DEEP),
    "deep_login_unauthenticated": (json_call("POST", LOGIN, DEEP, auth=False), E.JSON_TOO_DEEP),
    "deep_payload_part": (upload(b'{"folder:meta_data": {"x": %s}}' % DEEP.encode(), PHOTO), E.JSON_TOO_DEEP),
    "one_level_too_deep": (
        json_call("PATCH", META, json.dumps(nested(LIMITS.max_json_depth + 1))),
        E.JSON_TOO_DEEP,
    ),
    # a NUL, which PostgreSQL cannot store
    "nul_in_meta_data": (json_call("PATCH", META, '{"note": "a\\u0000b"}'), E.TEXT_INVALID_CHARACTER),
    "nul_in_a_key": (json_call("PATCH", META, '{"a\\u0000": 1}'), E.TEXT_INVALID_CHARACTER),
    "nul_in_login_email": (
        json_call("POST", LOGIN, '{"credentials": {"email": "admin\\u0000@x.test", "password": "p"}}', auth=False),
        E.TEXT_INVALID_CHARACTER,
    ),
    "nul_in_new_user_email": (
        json_call("POST", "/api/users/", '{"email": "u\\u0000@x.test", "password": "password-1"}'),
        E.TEXT_INVALID_CHARACTER,
    ),
    "nul_in_analysis_params": (json_call("POST", ANALYSES, _analyses('{"x": "\\u0000"}')), E.TEXT_INVALID_CHARACTER),
    "nul_in_payload_part": (upload(b'{"folder:meta_data": {"x": "\\u0000"}}', PHOTO), E.TEXT_INVALID_CHARACTER),
    "nul_in_file_name": (upload(b"{}", ("photo1", "a\x00.jpg", b"x")), E.TEXT_INVALID_CHARACTER),
    "nul_in_url_path": (get("/api/folders/%00"), E.TEXT_INVALID_CHARACTER),
    "nul_in_url_query": (get("/api/folders/?company_id=a%00b"), E.TEXT_INVALID_CHARACTER),
    "body_not_utf8": (json_call("PATCH", META, b'{"note": "\xff"}'), E.TEXT_INVALID_CHARACTER),
    # over the body limit
    "meta_data_over_the_body_limit": (
        json_call("PATCH", META, json.dumps({"x": "y" * LIMITS.max_body_bytes})),
        E.BODY_TOO_LARGE,
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_refused(setup: Setup, case: str) -> None:
    send, code = CASES[case]
    refuse(setup, send, code)


def test_nul_in_a_console_form_is_refused(setup: Setup) -> None:
    """The console's login form, with its CSRF token: only the NUL stops it before the store."""
    visitor = ConsoleVisitor(setup.url)
    try:
        answer = visitor.post("/console/login", {"email": "admin\x00@appliance.test", "password": "p"})
    finally:
        visitor.close()
    assert (answer.status_code, answer.headers.get(ERROR_CODE_HEADER)) == (400, str(int(E.TEXT_INVALID_CHARACTER)))


def test_json_as_deep_as_the_limit_is_stored(setup: Setup) -> None:
    deepest = nested(LIMITS.max_json_depth)
    with setup.client() as client:
        answer = client.post(f"/api/folders/{setup.folder_id}/meta_data", json=deepest)
        assert answer.status_code == 200, answer.text
        assert client.get(f"/api/folders/{setup.folder_id}/meta_data").json() == deepest
        assert client.post(f"/api/folders/{setup.folder_id}/meta_data", json={"k": 1}).status_code == 200


def test_a_body_as_large_as_the_limit_is_stored(setup: Setup) -> None:
    note = "y" * (LIMITS.max_body_bytes - len('{"k": 1, "note": ""}'))
    body = json.dumps({"k": 1, "note": note}, separators=(", ", ": "))
    assert len(body) == LIMITS.max_body_bytes
    with setup.client() as client:
        answer = client.post(
            f"/api/folders/{setup.folder_id}/meta_data", content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 200, answer.text[:300]
        assert client.post(f"/api/folders/{setup.folder_id}/meta_data", json={"k": 1}).status_code == 200


def test_a_chunked_body_is_cut_off_at_the_limit(setup: Setup) -> None:
    """No Content-Length to refuse early: counted as it arrives."""
    chunk = b'{"x": "' + b"y" * 65536

    def body() -> Iterator[bytes]:
        yield chunk
        yield from (b"y" * 65536 for _ in range(2 * LIMITS.max_body_bytes // 65536))
        yield b'"}'

    def send(s: Setup) -> httpx.Response:
        with s.client() as client:
            return client.patch(f"/api/folders/{s.folder_id}/meta_data", content=body())

    refuse(setup, send, E.BODY_TOO_LARGE)


def _urllib(setup: Setup, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
    """urllib sends the whole body before it reads, and asks for `Connection: close`."""
    request = urllib.request.Request(f"{setup.url}{path}", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=120) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_fifty_megabytes_of_analysis_params_are_refused_and_read_by_urllib(setup: Setup) -> None:
    before = setup.footprint()
    body = _analyses(json.dumps({"x": "y" * FIFTY_MB})).encode()
    headers = {"Content-Type": "application/json", TOKEN_HEADER: setup.token}
    check_refusal(*_urllib(setup, f"/api/folders/{setup.folder_id}/analyses", body, headers), E.BODY_TOO_LARGE)
    assert setup.footprint() == before


def test_fifty_megabytes_of_meta_data_are_refused_and_read_by_requests(setup: Setup) -> None:
    before = setup.footprint()
    answer = requests.patch(
        f"{setup.url}/api/folders/{setup.folder_id}/meta_data",
        data=json.dumps({"x": "y" * FIFTY_MB}),
        headers={"Content-Type": "application/json", TOKEN_HEADER: setup.token},
        timeout=120,
    )
    check_refusal(answer.status_code, answer.content, E.BODY_TOO_LARGE)
    assert setup.footprint() == before


UPLOAD_REFUSED_BEFORE_THE_FILE = {
    "payload_part_over_its_limit": (
        json.dumps({"folder:meta_data": {"x": "y" * LIMITS.max_payload_bytes}}).encode(),
        True,
        E.PAYLOAD_INVALID,
    ),
    "no_token": (b"{}", False, E.AUTH_NOT_PROVIDED),
}


@pytest.mark.parametrize("case", UPLOAD_REFUSED_BEFORE_THE_FILE)
def test_an_upload_refused_before_its_file_is_read_is_answered_to_urllib(setup: Setup, case: str) -> None:
    """The refusal goes out while 15 MB of file are still on their way: the server reads them,
    throws them away, and urllib reads the answer."""
    payload, with_token, code = UPLOAD_REFUSED_BEFORE_THE_FILE[case]
    before = setup.footprint()
    body = multipart(payload, ("photo1", "a.jpg", bytes(15 * 1024 * 1024)))
    headers = {"Content-Type": MULTIPART, **({TOKEN_HEADER: setup.token} if with_token else {})}
    status, answer = _urllib(setup, "/api/folders/", body, headers)
    if code is E.AUTH_NOT_PROVIDED:
        assert (status, json.loads(answer)["error_code"]) == (401, code)
    else:
        check_refusal(status, answer, code)
    assert setup.footprint() == before


#: Requests refused before their body is asked for: content type -> the refusal.
REFUSED_BEFORE_THE_BODY = {
    # over the body limit by its Content-Length
    "application/json": E.BODY_TOO_LARGE,
    # a JSON route never reads a body labelled multipart, which only the upload limits would bound
    MULTIPART: E.INVALID_STRUCTURE,
}


@pytest.mark.parametrize("content_type", REFUSED_BEFORE_THE_BODY)
def test_a_client_waiting_for_100_continue_is_answered_without_sending_its_body(
    setup: Setup, content_type: str
) -> None:
    """50 MB announced, `Expect: 100-continue`, and nothing sent: the refusal comes at once
    (not a `100 Continue`, after which the server would wait for the body)."""
    head = (
        f"PATCH /api/folders/{setup.folder_id}/meta_data HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"{TOKEN_HEADER}: {setup.token}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {FIFTY_MB}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n"
    )
    host, port = setup.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    code = REFUSED_BEFORE_THE_BODY[content_type]
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line.startswith(f"HTTP/1.1 {STATUS[code]} ".encode()), received[:300]
    check_refusal(STATUS[code], rest.partition(b"\r\n\r\n")[2], code)
