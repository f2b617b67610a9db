"""Who may call what, over real HTTP: every endpoint for every role, and company isolation.

One appliance (SQLite, Huey on SQLite) runs for the whole module, set up by tests/support/roles.py.
`ENDPOINTS` is the role x endpoint table: one row per endpoint of the API (a route without a row
fails `test_every_endpoint_has_a_row`), one column per caller, each cell one of

- ok: allowed, the row's 2xx status;
- 403: forbidden, error_code 9 (AUTH_FORBIDDEN): the caller sees the object but may not do this;
- 404: not visible, error_code 10 (NOT_EXIST): exactly what a missing object answers;
- 401: no token, error_code 6 (AUTH_NOT_PROVIDED).

Unless a row says otherwise, a cell acts on company A and on what CLIENT_A owns: its user, its
folder (with photo, shot set and a finished analysis) and that folder's photo. Cells that delete
something, or change a user, act on an object created for that cell alone; the other changing
cells only add media and analyses, rotate the webhook secret or write meta_data, on which no
cell's outcome depends.
The web console's pages and forms (under /console) have rows too: each caller uses a console
session of its own (cookies and CSRF token, tests/support/console.py), where a 401 cell is the
redirect to the login page and the other refusals carry their code in the X-Error-Code header.
The rules come from the roles table of docs/api.md and appliance/domain/policy.py.
"""

from __future__ import annotations

import functools
import json
import re
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import httpx
import pytest

from appliance.api.app import create_app
from appliance.ops.settings import Settings
from tests.support.console import ConsoleVisitor, pending_folder
from tests.support.live import running_appliance
from tests.support.media_samples import astronaut_rgb, build_shots_zip, jpeg_bytes, write_video
from tests.support.roles import (
    ACCOUNT_OF,
    ANALYSED,
    ANONYMOUS,
    CALLERS,
    FOLDER_OWNERS,
    PASSWORD,
    ROLES,
    Form,
    World,
    build_world,
    expect_status,
    photo_form,
)

pytestmark = pytest.mark.timeout(120)

#: Capture sessions of two short prompts, so that a 4 s recording covers one (3.5 s).
SHORT_CAPTURE = {
    "CAPTURE__LEAD_IN_SECONDS": "0.5",
    "CAPTURE__PROMPT_SECONDS": "1",
    "CAPTURE__PAUSE_SECONDS": "0.5",
    "CAPTURE__FEWEST_GESTURES": "2",
    "CAPTURE__MOST_GESTURES": "2",
}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    shots_zip = build_shots_zip(tmp_path_factory.mktemp("samples") / "shots.zip").read_bytes()
    workers = {"analysis": 1, "preview": 1, "resolution": 1}
    appliance_dir = tmp_path_factory.mktemp("appliance")
    with running_appliance(appliance_dir, workers=workers, scheduler=False, **SHORT_CAPTURE) as live:
        world = build_world(live, jpeg_bytes(astronaut_rgb()), shots_zip)
        try:
            yield world
        finally:
            world.close()


# The table ----------------------------------------------------------------------------------------


class Outcome(Enum):
    ALLOWED = "ok"
    FORBIDDEN = "403"
    NOT_VISIBLE = "404"
    UNAUTHENTICATED = "401"


FORBIDDEN, NOT_VISIBLE, UNAUTHENTICATED, LINK_REFUSED = (403, 9), (404, 10), (401, 6), (401, 8)
#: Status and error_code of each refusal.
REFUSALS = {Outcome.FORBIDDEN: FORBIDDEN, Outcome.NOT_VISIBLE: NOT_VISIBLE, Outcome.UNAUTHENTICATED: UNAUTHENTICATED}
BRIGHTNESS = {"analyses": [{"type": "brightness"}]}


def refusal(response: httpx.Response) -> tuple[int, int]:
    """Status and error_code of a refused request."""
    return response.status_code, response.json()["error_code"]


def outcomes(text: str) -> dict[str, Outcome]:
    """One outcome per caller, in the order of `CALLERS` (the column header below)."""
    cells = text.split()
    assert len(cells) == len(CALLERS), text
    return dict(zip(CALLERS, map(Outcome, cells), strict=True))


# CADM: COMPANY_ADMIN, CLI: CLIENT, COP: CLIENT_OPERATOR, SVC: SERVICE (a service CLIENT)
# fmt: off
#                                  ADMIN OPER CADM_A CLI_A COP_A SVC_A CLI_B CADM_B anonymous
EVERYONE              = outcomes("ok    ok   ok     ok    ok    ok    ok    ok     ok")
SIGNED_IN             = outcomes("ok    ok   ok     ok    ok    ok    ok    ok     401")
WITHOUT_OTHER_SESSION = outcomes("403   403  403    403   403   403   403   403    ok")
ADMIN_ONLY            = outcomes("ok    403  403    403   403   403   403   403    401")
SYSTEM_WIDE           = outcomes("ok    ok   403    403   403   403   403   403    401")
CREATE_A_USER         = outcomes("ok    403  ok     403   403   403   403   403    401")
READ_CLIENT_A_USER    = outcomes("ok    ok   ok     ok    404   404   404   404    401")
MANAGE_A_USER         = outcomes("ok    403  ok     404   404   404   404   404    401")
READ_COMPANY_A        = outcomes("ok    ok   ok     ok    ok    ok    404   404    401")
CONFIGURE_COMPANY_A   = outcomes("ok    403  ok     403   403   403   404   404    401")
DELETE_COMPANY        = outcomes("ok    403  404    404   404   404   404   404    401")
CREATE_FOLDERS        = outcomes("ok    403  ok     ok    403   ok    ok    ok     401")
READ_FOLDER           = outcomes("ok    ok   ok     ok    ok    404   404   404    401")
WRITE_FOLDER          = outcomes("ok    403  ok     ok    403   404   404   404    401")
DECIDE_FOLDER         = outcomes("ok    ok   ok     403   ok    404   404   404    401")
DELETE_FOLDER         = outcomes("ok    403  ok     403   403   404   404   404    401")
# fmt: on


@dataclass(frozen=True, slots=True)
class Call:
    """What a cell sends besides its caller's token: ids for the path's placeholders (over
    `shared_ids`), and a JSON body, a query or a multipart form; for the console, a URL-encoded
    form (`fields`, sent with the CSRF token) and which console session sends it: the caller's
    shared one, a fresh one of the caller's (`own`), or one not signed in (`signed_out`)."""

    ids: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] | None = None
    form: Form | None = None
    fields: dict[str, str] | None = None
    console_session: str = "shared"


Build = Callable[[World, str], Call]


def plain(_: World, __: str) -> Call:
    return Call()


@dataclass(frozen=True, slots=True)
class Row:
    outcomes: dict[str, Outcome]
    build: Build = plain
    ok: int = 200


def shared_ids(world: World) -> dict[str, str]:
    """The objects a cell acts on unless its row says otherwise: company A, CLIENT_A and its folder."""
    photo = world.media("CLIENT_A", "IMAGE_FOLDER")
    analysis = world.analysis("CLIENT_A")
    (image,) = next(r for r in analysis["results_media"] if r["source_media_id"] == photo["media_id"])["output_images"]
    return {
        "company_id": world.company_ids["A"],
        "user_id": world.user_ids["CLIENT_A"],
        "folder_id": world.folders["CLIENT_A"]["folder_id"],
        "media_id": photo["media_id"],
        "analysis_id": analysis["analysis_id"],
        "name": image["name"],
        "collection_id": world.collection["collection_id"],
        "person_id": world.person["person_id"],
        "person_image_id": world.person["images"][0]["person_image_id"],
    }


def body(json: Any) -> Build:
    return lambda _, __: Call(json=json)


def log_in_as_caller(world: World, caller: str) -> Call:
    account = ACCOUNT_OF["CLIENT_A" if caller == ANONYMOUS else caller]
    return Call(json={"credentials": {"email": account.email, "password": account.password}})


def decide_pending(world: World, _: str) -> Call:
    """A folder of CLIENT_A that waits for an operator, and a decision on it (JSON and form)."""
    decision = {"resolution": "SUCCESS", "comment": "checked by the role matrix"}
    return Call(ids={"folder_id": pending_folder(world.client("CLIENT_A"), world.jpeg)}, json=decision, fields=decision)


def console_log_in_as_caller(world: World, caller: str) -> Call:
    account = ACCOUNT_OF["CLIENT_A" if caller == ANONYMOUS else caller]
    return Call(fields={"email": account.email, "password": account.password}, console_session="signed_out")


def console_own_session(_: World, __: str) -> Call:
    return Call(console_session="own")


def console_search(_: World, __: str) -> Call:
    return Call(fields={"status": "FINISHED", "meta_data": "written_by!=nobody"})


def static_file(_: World, __: str) -> Call:
    return Call(ids={"file_path": "console.css"})


def refresh_another_session(world: World, _: str) -> Call:
    """The expire token of a new session of CLIENT_A: it alone is the credential, so a caller
    sending the access token of any other session is refused."""
    return Call(json={"expire_token": world.log_in(ACCOUNT_OF["CLIENT_A"])["expire_token"]})


def new_user_of_a(world: World, _: str) -> Call:
    email = f"new-{uuid.uuid4().hex[:12]}@roles.test"
    company_id = world.company_ids["A"]
    return Call(json={"email": email, "password": PASSWORD, "user_type": "CLIENT", "company_id": company_id})


def fresh_user(json: Any = None) -> Build:
    return lambda world, _: Call(ids={"user_id": world.fresh_user()}, json=json)


def new_company(_: World, __: str) -> Call:
    return Call(json={"name": f"Company {uuid.uuid4().hex[:8]}"})


def fresh_company(world: World, _: str) -> Call:
    return Call(ids={"company_id": world.fresh_company()})


def fresh_folder(world: World, _: str) -> Call:
    return Call(ids={"folder_id": world.fresh_folder()})


def photo(world: World, _: str) -> Call:
    return Call(form=photo_form(world.jpeg))


def photo_with_analysis(world: World, _: str) -> Call:
    return Call(form=photo_form(world.jpeg, analyses=BRIGHTNESS["analyses"]))


def shot_set(world: World, _: str) -> Call:
    return Call(ids={"media_id": world.media("CLIENT_A", "SHOTS_SET")["media_id"]})


def meta_data(_: World, caller: str) -> Call:
    return Call(json={"written_by": caller})


def meta_keys(_: World, __: str) -> Call:
    return Call(params={"keys": "written_by"})


def new_collection(world: World, _: str) -> Call:
    return Call(json={"alias": f"list {uuid.uuid4().hex[:8]}", "company_id": world.company_ids["A"]})


def fresh_collection(world: World, _: str) -> Call:
    return Call(ids={"collection_id": world.fresh_collection()})


def fresh_person(world: World, _: str) -> Call:
    return Call(ids={"person_id": world.enrol()["person_id"]})


def fresh_person_image(world: World, _: str) -> Call:
    person = world.enrol()
    return Call(ids={"person_id": person["person_id"], "person_image_id": person["images"][0]["person_image_id"]})


def console_new_collection(world: World, _: str) -> Call:
    return Call(fields={"alias": f"list {uuid.uuid4().hex[:8]}", "company_id": world.company_ids["A"]})


def capture_session(world: World, _: str) -> Call:
    """A new capture session on CLIENT_A's folder. Its token, in the address, is the credential: any
    caller holding it may use the page, whatever token it sends along."""
    folder_id = world.folders["CLIENT_A"]["folder_id"]
    opened = expect_status(world.client("ADMIN").post(f"/api/folders/{folder_id}/capture_sessions", json={}), 201)
    return Call(ids={"token": opened["capture_url"].removeprefix("/capture/")})


@functools.cache
def capture_clip() -> bytes:
    """4 s of the astronaut moving: a recording as long as a short session asks for."""
    with tempfile.TemporaryDirectory() as directory:
        return write_video(Path(directory) / "capture.avi", "MJPG", frames=60, fps=15.0, side=256).read_bytes()


def capture_recording(world: World, caller: str) -> Call:
    payload = {"payload": json.dumps({"report": {"camera_label": "Integrated Webcam"}})}
    return Call(ids=capture_session(world, caller).ids, form=(payload, {"recording": ("capture.avi", capture_clip())}))


def capture_static_file(_: World, __: str) -> Call:
    return Call(ids={"file_path": "capture.js"})


def console_photo(world: World, _: str) -> Call:
    return Call(form=({}, {"photo": ("selfie.jpg", world.jpeg, "image/jpeg")}))


def meta_rows(
    prefix: str, read: dict[str, Outcome] = READ_FOLDER, write: dict[str, Outcome] = WRITE_FOLDER
) -> dict[str, Row]:
    """The four meta_data verbs under `prefix`: reading follows `read`, changing `write`."""
    return {
        f"GET {prefix}/meta_data": Row(read),
        f"POST {prefix}/meta_data": Row(write, meta_data),
        f"PATCH {prefix}/meta_data": Row(write, meta_data),
        f"DELETE {prefix}/meta_data": Row(write, meta_keys),
    }


COLLECTION = "/api/collections/{collection_id}"
PERSON = f"{COLLECTION}/persons/{{person_id}}"
#: The blacklist plugin's collections API: company A's data, read by all of it, changed by its admins.
COLLECTION_ENDPOINTS: dict[str, Row] = {
    "POST /api/collections": Row(CONFIGURE_COMPANY_A, new_collection, ok=201),
    "GET /api/collections": Row(SIGNED_IN),
    f"GET {COLLECTION}": Row(READ_COMPANY_A),
    f"DELETE {COLLECTION}": Row(CONFIGURE_COMPANY_A, fresh_collection, ok=204),
    **meta_rows(COLLECTION, READ_COMPANY_A, CONFIGURE_COMPANY_A),
    f"POST {COLLECTION}/persons": Row(CONFIGURE_COMPANY_A, photo, ok=201),
    f"GET {COLLECTION}/persons": Row(READ_COMPANY_A),
    f"GET {PERSON}": Row(READ_COMPANY_A),
    f"DELETE {PERSON}": Row(CONFIGURE_COMPANY_A, fresh_person, ok=204),
    **meta_rows(PERSON, READ_COMPANY_A, CONFIGURE_COMPANY_A),
    f"POST {PERSON}/images": Row(CONFIGURE_COMPANY_A, photo, ok=201),
    f"GET {PERSON}/images": Row(READ_COMPANY_A),
    f"GET {PERSON}/images/{{person_image_id}}/file": Row(READ_COMPANY_A),
    f"DELETE {PERSON}/images/{{person_image_id}}": Row(CONFIGURE_COMPANY_A, fresh_person_image, ok=204),
}
CONSOLE_COLLECTION = "/console/collections/{collection_id}"
#: The blacklist plugin's console pages: the rules of its API, a 401 cell the redirect to the login page.
CONSOLE_COLLECTION_ENDPOINTS: dict[str, Row] = {
    "GET /console/collections": Row(SIGNED_IN),
    "POST /console/collections": Row(CONFIGURE_COMPANY_A, console_new_collection, ok=303),
    f"GET {CONSOLE_COLLECTION}": Row(READ_COMPANY_A),
    f"POST {CONSOLE_COLLECTION}/delete": Row(CONFIGURE_COMPANY_A, fresh_collection, ok=303),
    f"POST {CONSOLE_COLLECTION}/persons": Row(CONFIGURE_COMPANY_A, console_photo, ok=303),
    f"POST {CONSOLE_COLLECTION}/persons/{{person_id}}/delete": Row(CONFIGURE_COMPANY_A, fresh_person, ok=303),
    f"GET {CONSOLE_COLLECTION}/persons/{{person_id}}/photos/{{person_image_id}}": Row(READ_COMPANY_A),
}


ENDPOINTS: dict[str, Row] = {
    "GET /health/live": Row(EVERYONE),
    "GET /health/ready": Row(EVERYONE),
    "GET /api/version": Row(EVERYONE),
    "GET /metrics": Row(SYSTEM_WIDE),  # or the metrics token (tests/ops/test_metrics.py)
    "POST /api/authorize/auth": Row(EVERYONE, log_in_as_caller),  # any token sent along is ignored
    "POST /api/authorize/refresh": Row(WITHOUT_OTHER_SESSION, refresh_another_session),  # the session decides
    "GET /api/users": Row(SIGNED_IN),
    "POST /api/users": Row(CREATE_A_USER, new_user_of_a, ok=201),
    "GET /api/users/me": Row(SIGNED_IN),
    "GET /api/users/{user_id}": Row(READ_CLIENT_A_USER),
    "PATCH /api/users/{user_id}": Row(MANAGE_A_USER, fresh_user({"first_name": "Renamed"})),
    "DELETE /api/users/{user_id}": Row(MANAGE_A_USER, fresh_user(), ok=204),
    "GET /api/companies": Row(SIGNED_IN),
    "POST /api/companies": Row(ADMIN_ONLY, new_company, ok=201),
    "GET /api/companies/{company_id}": Row(READ_COMPANY_A),
    "PATCH /api/companies/{company_id}": Row(CONFIGURE_COMPANY_A, body({"meta_data": {"region": "north"}})),
    "DELETE /api/companies/{company_id}": Row(DELETE_COMPANY, fresh_company, ok=204),
    "POST /api/companies/{company_id}/webhook_secret": Row(CONFIGURE_COMPANY_A),
    "POST /api/folders": Row(CREATE_FOLDERS, photo, ok=201),
    "GET /api/folders": Row(SIGNED_IN),
    "GET /api/folders/{folder_id}": Row(READ_FOLDER),
    "DELETE /api/folders/{folder_id}": Row(DELETE_FOLDER, fresh_folder, ok=204),
    "POST /api/folders/{folder_id}/media": Row(WRITE_FOLDER, photo, ok=201),
    **meta_rows("/api/folders/{folder_id}"),
    "POST /api/folders/{folder_id}/analyses": Row(WRITE_FOLDER, body(BRIGHTNESS), ok=201),
    "GET /api/folders/{folder_id}/analyses": Row(READ_FOLDER),
    "GET /api/analyses/{analysis_id}": Row(READ_FOLDER),
    **meta_rows("/api/analyses/{analysis_id}"),
    "GET /api/analyses/{analysis_id}/images/{media_id}/{name}": Row(READ_FOLDER),
    "GET /api/media/{media_id}": Row(READ_FOLDER),
    "GET /api/media/{media_id}/file": Row(READ_FOLDER),
    "GET /api/media/{media_id}/thumbnail": Row(READ_FOLDER),
    "GET /api/media/{media_id}/preview": Row(READ_FOLDER, shot_set),
    **meta_rows("/api/media/{media_id}"),
    "POST /api/instant/folders": Row(CREATE_FOLDERS, photo_with_analysis),
    "POST /api/folders/{folder_id}/decision": Row(DECIDE_FOLDER, decide_pending, ok=201),
    "GET /api/folders/{folder_id}/decisions": Row(READ_FOLDER),
    "POST /api/folders/{folder_id}/capture_sessions": Row(WRITE_FOLDER, body({}), ok=201),
    # The capture page: the session's token in the address is the credential (docs/capture.md)
    "GET /capture/{token}": Row(EVERYONE, capture_session),
    "GET /capture/{token}/session": Row(EVERYONE, capture_session),
    "POST /capture/{token}/recording": Row(EVERYONE, capture_recording, ok=202),
    "GET /capture/{token}/verdict": Row(EVERYONE, capture_session),
    "GET /capture/static/{file_path}": Row(EVERYONE, capture_static_file),
    # The web console: a 401 cell is a redirect to its login page (console_refusal)
    "GET /console": Row(EVERYONE, ok=303),
    "GET /console/login": Row(EVERYONE),
    "POST /console/login": Row(EVERYONE, console_log_in_as_caller, ok=303),
    "POST /console/logout": Row(EVERYONE, console_own_session, ok=303),
    "GET /console/folders": Row(SIGNED_IN),
    "POST /console/folders": Row(SIGNED_IN, console_search),
    "GET /console/folders/{folder_id}": Row(READ_FOLDER),
    "POST /console/folders/{folder_id}/decision": Row(DECIDE_FOLDER, decide_pending, ok=303),
    "POST /console/folders/{folder_id}/capture": Row(WRITE_FOLDER, ok=303),
    "GET /console/statistics": Row(SIGNED_IN),
    "GET /console/statistics.csv": Row(SIGNED_IN),
    "GET /console/system": Row(SIGNED_IN),
    "GET /console/static/{file_path}": Row(EVERYONE, static_file),
    **COLLECTION_ENDPOINTS,
    **CONSOLE_COLLECTION_ENDPOINTS,
}


def api_endpoints() -> set[str]:
    """`METHOD /path/{param}` of every route the app serves, without the OpenAPI pages."""
    app = create_app(Settings())
    docs = app.openapi_config.path if app.openapi_config else "/docs"
    endpoints = set()
    for route in app.routes:
        if route.path == docs or route.path.startswith(f"{docs}/"):
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
        for handler in route.route_handlers:
            endpoints.update(f"{method} {path}" for method in handler.http_methods - {"HEAD", "OPTIONS"})
    return endpoints


def test_every_endpoint_has_a_row() -> None:
    endpoints = api_endpoints()
    assert sorted(endpoints - ENDPOINTS.keys()) == [], "endpoints without a row in ENDPOINTS"
    assert sorted(ENDPOINTS.keys() - endpoints) == [], "rows of ENDPOINTS the app does not serve"


CELLS = [(endpoint, caller) for endpoint in ENDPOINTS for caller in CALLERS]


@pytest.fixture(scope="module")
def consoles(world: World) -> Iterator[dict[str, ConsoleVisitor]]:
    """One console session per caller (the anonymous one not signed in), made on first use."""
    visitors: dict[str, ConsoleVisitor] = {}
    yield visitors
    for visitor in visitors.values():
        visitor.close()


def console_visitor(world: World, consoles: dict[str, ConsoleVisitor], caller: str, session: str) -> ConsoleVisitor:
    def new(signed_in: bool) -> ConsoleVisitor:
        visitor = ConsoleVisitor(world.live.base_url)
        account = ACCOUNT_OF.get(caller)
        return visitor.log_in(account.email, account.password) if signed_in and account else visitor

    if session != "shared":
        return new(signed_in=session == "own")
    if caller not in consoles:
        consoles[caller] = new(signed_in=True)
    return consoles[caller]


def console_refusal(response: httpx.Response) -> tuple[int, int]:
    """Status and error code of a refused console request; the redirect to the login page
    counts as UNAUTHENTICATED."""
    if response.status_code == 303 and response.headers["location"] == "/console/login":
        return UNAUTHENTICATED
    return response.status_code, int(response.headers["X-Error-Code"])


@pytest.mark.parametrize(("endpoint", "caller"), CELLS, ids=[f"{endpoint} {caller}" for endpoint, caller in CELLS])
def test_matrix(world: World, consoles: dict[str, ConsoleVisitor], endpoint: str, caller: str) -> None:
    row = ENDPOINTS[endpoint]
    method, template = endpoint.split(" ")
    call = row.build(world, caller)
    form_data, files = call.form or (None, None)
    path = template.format_map({**shared_ids(world), **call.ids})
    if template.startswith("/console"):
        visitor = console_visitor(world, consoles, caller, call.console_session)
        response = visitor.post(path, call.fields, files=files) if method == "POST" else visitor.get(path)
        outcome_of = console_refusal
    else:
        response = world.client(caller).request(
            method, path, json=call.json, params=call.params, data=form_data, files=files
        )
        outcome_of = refusal
    expected = row.outcomes[caller]
    if expected is Outcome.ALLOWED:
        assert response.status_code == row.ok, response.text
    else:
        assert outcome_of(response) == REFUSALS[expected], response.text


# Company isolation --------------------------------------------------------------------------------

#: The setup's folders (by owner) each role sees, in lists and by id.
FOLDERS_SEEN: dict[str, set[str]] = {
    "ADMIN": {"CLIENT_A", "COMPANY_ADMIN_A", "CLIENT_B"},
    "OPERATOR": {"CLIENT_A", "COMPANY_ADMIN_A", "CLIENT_B"},
    "COMPANY_ADMIN_A": {"CLIENT_A", "COMPANY_ADMIN_A"},
    "CLIENT_A": {"CLIENT_A"},
    "CLIENT_OPERATOR_A": {"CLIENT_A", "COMPANY_ADMIN_A"},
    "SERVICE_A": set(),
    "CLIENT_B": {"CLIENT_B"},
    "COMPANY_ADMIN_B": {"CLIENT_B"},
}
#: The setup's users each role sees.
USERS_SEEN: dict[str, set[str]] = {
    "ADMIN": set(ROLES),
    "OPERATOR": set(ROLES),
    "COMPANY_ADMIN_A": {"COMPANY_ADMIN_A", "CLIENT_A", "CLIENT_OPERATOR_A", "SERVICE_A"},
    "CLIENT_A": {"CLIENT_A"},
    "CLIENT_OPERATOR_A": {"CLIENT_OPERATOR_A"},
    "SERVICE_A": {"SERVICE_A"},
    "CLIENT_B": {"CLIENT_B"},
    "COMPANY_ADMIN_B": {"COMPANY_ADMIN_B", "CLIENT_B"},
}
#: The companies each role sees, and those whose webhook secret it is shown.
COMPANIES_SEEN: dict[str, tuple[set[str], set[str]]] = {
    "ADMIN": ({"A", "B"}, {"A", "B"}),
    "OPERATOR": ({"A", "B"}, set()),
    "COMPANY_ADMIN_A": ({"A"}, {"A"}),
    "CLIENT_A": ({"A"}, set()),
    "CLIENT_OPERATOR_A": ({"A"}, set()),
    "SERVICE_A": ({"A"}, set()),
    "CLIENT_B": ({"B"}, set()),
    "COMPANY_ADMIN_B": ({"B"}, {"B"}),
}


def listed(client: httpx.Client, path: str, **params: str) -> list[dict[str, Any]]:
    return expect_status(client.get(path, params={"limit": "1000", **params}), 200)["items"]


@pytest.mark.parametrize("role", ROLES)
def test_folder_lists_hold_only_what_the_role_sees(world: World, role: str) -> None:
    client, owner_of = world.client(role), {f["folder_id"]: owner for owner, f in world.folders.items()}

    def owners(items: list[dict[str, Any]]) -> set[str]:
        return {owner_of[f["folder_id"]] for f in items if f["folder_id"] in owner_of}

    items = listed(client, "/api/folders", with_analyses="true")
    assert owners(items) == FOLDERS_SEEN[role]
    account = ACCOUNT_OF[role]
    if account.company:  # the matrix adds folders: they too must be of the caller's company
        assert {f["company_id"] for f in items} <= {world.company_ids[account.company]}
    if account.user_type == "CLIENT" and not account.is_admin:
        assert {f["user_id"] for f in items} <= {world.user_ids[role]}
    analysis_ids = {a["analysis_id"] for f in items for a in f["analyses"]}
    analysed = {owner for owner in ANALYSED if world.analysis(owner)["analysis_id"] in analysis_ids}
    assert analysed == FOLDERS_SEEN[role] & set(ANALYSED)
    # A filter narrows the list: naming what is out of scope matches nothing, never the caller's own.
    for company, company_id in world.company_ids.items():
        in_company = {owner for owner in FOLDERS_SEEN[role] if ACCOUNT_OF[owner].company == company}
        assert owners(listed(client, "/api/folders", company_id=company_id)) == in_company
    of_client_a = listed(client, "/api/folders", user_id=world.user_ids["CLIENT_A"])
    assert owners(of_client_a) == FOLDERS_SEEN[role] & {"CLIENT_A"}


def object_paths(folder: dict[str, Any]) -> list[str]:
    """Every by-id path of a folder, its media (files fetched with a token, not signed) and analyses."""
    folder_id = folder["folder_id"]
    paths = [f"/api/folders/{folder_id}", f"/api/folders/{folder_id}/meta_data", f"/api/folders/{folder_id}/analyses"]
    for media in folder["media"]:
        media_id = media["media_id"]
        paths += [f"/api/media/{media_id}", f"/api/media/{media_id}/meta_data", f"/api/media/{media_id}/file"]
        paths += [httpx.URL(url).path for url in (media["thumb_url"], media["preview_url"]) if url]
    for analysis in folder["analyses"]:
        paths += [f"/api/analyses/{analysis['analysis_id']}", f"/api/analyses/{analysis['analysis_id']}/meta_data"]
        paths += [httpx.URL(i["original_url"]).path for r in analysis["results_media"] for i in r["output_images"]]
    return paths


@pytest.mark.parametrize("owner", FOLDER_OWNERS)
@pytest.mark.parametrize("role", ROLES)
def test_objects_by_id_answer_404_outside_the_role_scope(world: World, role: str, owner: str) -> None:
    client, visible = world.client(role), owner in FOLDERS_SEEN[role]
    answers = {}
    for path in object_paths(world.folders[owner]):
        response = client.get(path)
        answers[path] = response.status_code if response.is_success else refusal(response)
    assert answers == dict.fromkeys(answers, 200 if visible else NOT_VISIBLE)


@pytest.mark.parametrize("role", ROLES)
def test_users_are_visible_only_within_the_role_scope(world: World, role: str) -> None:
    client, role_of = world.client(role), {user_id: r for r, user_id in world.user_ids.items()}
    items = listed(client, "/api/users")
    assert {role_of[u["user_id"]] for u in items if u["user_id"] in role_of} == USERS_SEEN[role]
    company = ACCOUNT_OF[role].company
    if company:  # the matrix adds users of A: a company admin of A lists them, nobody else
        own = {world.company_ids[company]}
        assert {u["company_id"] for u in items} == own
        for company_id in world.company_ids.values():  # filtering on another company matches nothing
            filtered = listed(client, "/api/users", company_id=company_id)
            assert {u["company_id"] for u in filtered} == own & {company_id}
    answers = {r: client.get(f"/api/users/{user_id}").status_code for r, user_id in world.user_ids.items()}
    assert answers == {r: 200 if r in USERS_SEEN[role] else 404 for r in ROLES}


@pytest.mark.parametrize("role", ROLES)
def test_companies_are_visible_only_within_the_role_scope(world: World, role: str) -> None:
    client, name_of = world.client(role), {company_id: c for c, company_id in world.company_ids.items()}
    seen, with_secret = COMPANIES_SEEN[role]
    items = listed(client, "/api/companies")
    assert {name_of[c["company_id"]] for c in items if c["company_id"] in name_of} == seen
    assert {name_of[c["company_id"]] for c in items if "webhook_secret" in c and c["company_id"] in name_of} == (
        with_secret
    )
    if ACCOUNT_OF[role].company:  # nor any company the matrix created
        assert len(items) == 1
    answers = {c: client.get(f"/api/companies/{c_id}").status_code for c, c_id in world.company_ids.items()}
    assert answers == {c: 200 if c in seen else 404 for c in ("A", "B")}


def signed_urls(folder: dict[str, Any]) -> list[str]:
    """The signed links a folder document hands out: files, thumbnails, previews, output images."""
    urls = [url for m in folder["media"] for url in (m["original_url"], m["thumb_url"], m["preview_url"]) if url]
    images = [i["original_url"] for a in folder["analyses"] for r in a["results_media"] for i in r["output_images"]]
    return urls + images


def test_signed_urls_are_the_only_way_to_another_company_s_files(world: World) -> None:
    urls = signed_urls(world.folders["CLIENT_A"])  # as setup fetched it, before the matrix added media
    assert len(urls) == 7  # photo and shot set: file, thumbnail and output image each; the shot set's preview
    foreign = world.client("CLIENT_B")
    for url in urls:
        unsigned = url.split("?")[0]
        assert httpx.get(url).status_code == 200, url
        assert foreign.get(url).status_code == 200, url
        assert world.client("CLIENT_A").get(unsigned).status_code == 200, url
        assert refusal(foreign.get(unsigned)) == NOT_VISIBLE, url
        assert refusal(httpx.get(unsigned)) == UNAUTHENTICATED, url
    # A signature is bound to its path: moved onto B's photo, it opens nothing.
    photo_a, photo_b = world.media("CLIENT_A", "IMAGE_FOLDER"), world.media("CLIENT_B", "IMAGE_FOLDER")
    moved = httpx.get(photo_a["original_url"].replace(photo_a["media_id"], photo_b["media_id"]))
    assert refusal(moved) == LINK_REFUSED


# Rules beyond the table ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["OPERATOR", "CLIENT_OPERATOR_A"])
def test_operators_cannot_upload_or_analyse(world: World, role: str) -> None:
    client = world.client(role)
    before = {f["folder_id"] for f in listed(world.client("ADMIN"), "/api/folders")}
    data, files = photo_form(world.jpeg, analyses=BRIGHTNESS["analyses"])
    assert refusal(client.post("/api/folders", data=data, files=files)) == FORBIDDEN  # a single request
    folder_id = world.folders["COMPANY_ADMIN_A"]["folder_id"]
    assert refusal(client.post(f"/api/folders/{folder_id}/analyses", json=BRIGHTNESS)) == FORBIDDEN
    assert {f["folder_id"] for f in listed(world.client("ADMIN"), "/api/folders")} == before


def test_a_company_admin_manages_only_its_company_s_client_users(world: World) -> None:
    refused = [
        world.create_user("COMPANY_ADMIN_A", user_type="ADMIN", company_id=None),
        world.create_user("COMPANY_ADMIN_A", user_type="OPERATOR", company_id=None),
        world.create_user("COMPANY_ADMIN_A", company_id=world.company_ids["B"]),
        world.create_user("COMPANY_ADMIN_A", user_type="CLIENT_OPERATOR", company_id=world.company_ids["B"]),
    ]
    assert [refusal(r) for r in refused] == [FORBIDDEN] * len(refused)
    created = expect_status(world.create_user("COMPANY_ADMIN_A", user_type="CLIENT_OPERATOR", company_id=None), 201)
    assert created["company_id"] == world.company_ids["A"]
    admin_a = world.client("COMPANY_ADMIN_A")
    for change in ({"user_type": "ADMIN"}, {"user_type": "OPERATOR"}, {"company_id": world.company_ids["B"]}):
        assert refusal(admin_a.patch(f"/api/users/{created['user_id']}", json=change)) == FORBIDDEN, change
    escalated = admin_a.patch(f"/api/users/{world.user_ids['COMPANY_ADMIN_A']}", json={"user_type": "ADMIN"})
    assert refusal(escalated) == FORBIDDEN


def test_a_user_changes_only_its_own_names_password_and_meta_data(world: World) -> None:
    client, me = world.client("CLIENT_A"), world.user_ids["CLIENT_A"]
    renamed = client.patch(f"/api/users/{me}", json={"first_name": "Alice", "meta_data": {"desk": 3}})
    assert (expect_status(renamed, 200)["first_name"], renamed.json()["meta_data"]) == ("Alice", {"desk": 3})
    for change in ({"is_admin": True}, {"user_type": "ADMIN"}, {"can_start_analysis_quality": False}):
        assert refusal(client.patch(f"/api/users/{me}", json=change)) == FORBIDDEN, change


@pytest.mark.parametrize("role", ROLES)
def test_no_user_deletes_itself(world: World, role: str) -> None:
    client = world.client(role)
    assert refusal(client.delete(f"/api/users/{world.user_ids[role]}")) == FORBIDDEN
    assert expect_status(client.get("/api/users/me"), 200)["user_id"] == world.user_ids[role]


def test_analysis_flags_limit_what_a_client_starts(world: World) -> None:
    created = expect_status(world.create_user(email="no-quality@roles.test", can_start_analysis_quality=False), 201)
    assert created["can_start_analysis_quality"] is False
    with world.live.client(world.live.login("no-quality@roles.test", PASSWORD)) as client:
        data, files = photo_form(world.jpeg)
        folder_id = expect_status(client.post("/api/folders", data=data, files=files), 201)["folder_id"]
        for analysis_type in ("QUALITY", "quality"):
            refused = client.post(f"/api/folders/{folder_id}/analyses", json={"analyses": [{"type": analysis_type}]})
            assert refusal(refused) == FORBIDDEN, analysis_type
        for path in ("/api/folders", "/api/instant/folders"):  # a single request, instant mode
            data, files = photo_form(world.jpeg, analyses=[{"type": "quality"}])
            assert refusal(client.post(path, data=data, files=files)) == FORBIDDEN, path
        (started,) = expect_status(client.post(f"/api/folders/{folder_id}/analyses", json=BRIGHTNESS), 201)
        assert started["time_created"] and started["time_updated"]  # as stored, not as planned
        assert [f["folder_id"] for f in listed(client, "/api/folders")] == [folder_id]
