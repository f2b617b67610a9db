"""The console's security basics over real HTTP, without a browser: CSRF tokens on every form,
cookie flags, the Content-Security-Policy and its companions, no personal data in URLs, and the
operator decision's rules as the API applies them."""

from __future__ import annotations

import re
from collections.abc import Iterator
from http.cookies import Morsel, SimpleCookie

import httpx
import pytest

from tests.console.conftest import PERSON, REVIEW_TRANSACTION, ConsoleWorld
from tests.support.console import ConsoleVisitor, csrf_token_of, pending_folder
from tests.support.roles import PASSWORD, expect_status

pytestmark = pytest.mark.timeout(120)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


@pytest.fixture
def operator(world: ConsoleWorld) -> Iterator[ConsoleVisitor]:
    visitor = ConsoleVisitor(world.live.base_url).log_in(world.emails["CLIENT_OPERATOR_A"], PASSWORD)
    yield visitor
    visitor.close()


def error_code(response: httpx.Response) -> tuple[int, int]:
    return response.status_code, int(response.headers["X-Error-Code"])


def decisions_of(world: ConsoleWorld, folder_id: str) -> list[dict[str, str]]:
    return expect_status(world.clients["ADMIN"].get(f"/api/folders/{folder_id}/decisions"), 200)


def result_of(world: ConsoleWorld, folder_id: str) -> str:
    return expect_status(world.clients["ADMIN"].get(f"/api/folders/{folder_id}"), 200)["system_resolution"]


def test_a_form_without_the_token_of_its_session_is_refused(world: ConsoleWorld, operator: ConsoleVisitor) -> None:
    folder_id = pending_folder(world.clients["CLIENT_A"], world.jpeg)
    path = f"/console/folders/{folder_id}/decision"
    decision = {"resolution": "DECLINED", "comment": "forged"}
    assert error_code(operator.post(path, decision, csrf=False)) == (403, 130)
    assert error_code(operator.post(path, {**decision, "_csrf": "0" * 64}, csrf=False)) == (403, 130)
    other = ConsoleVisitor(world.live.base_url).log_in(world.emails["CLIENT_OPERATOR_A"], PASSWORD)
    # the other session's own token, sent with this session's cookies
    assert error_code(operator.post(path, {**decision, "_csrf": other.csrf}, csrf=False)) == (403, 130)
    other.close()
    assert decisions_of(world, folder_id) == [] and result_of(world, folder_id) == "OPERATOR_REQUIRED"

    accepted = operator.post(path, decision)
    assert (accepted.status_code, accepted.headers["location"]) == (303, f"/console/folders/{folder_id}")
    assert [d["comment"] for d in decisions_of(world, folder_id)] == ["forged"]
    assert result_of(world, folder_id) == "DECLINED"


def test_logging_in_and_out_need_the_token_too(world: ConsoleWorld) -> None:
    visitor = ConsoleVisitor(world.live.base_url)
    credentials = {"email": world.emails["CLIENT_A"], "password": PASSWORD}
    assert error_code(visitor.post("/console/login", credentials, csrf=False)) == (403, 130)
    assert "appliance_console_session" not in visitor.client.cookies
    visitor.log_in(credentials["email"], PASSWORD)
    assert error_code(visitor.post("/console/logout", csrf=False)) == (403, 130)
    assert visitor.get("/console/folders").status_code == 200  # still signed in
    visitor.close()


def set_cookies(response: httpx.Response) -> dict[str, Morsel[str]]:
    cookies: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    return dict(cookies)


@pytest.mark.parametrize("tls", [False, True], ids=["http", "tls at a proxy on the same host"])
def test_console_cookies_are_http_only_strict_and_secure_over_tls(world: ConsoleWorld, tls: bool) -> None:
    # uvicorn trusts X-Forwarded-Proto from 127.0.0.1: the request then came over TLS (where a
    # browser would send the Secure cookie back; here it is sent by hand)
    headers = {"X-Forwarded-Proto": "https"} if tls else {}
    login_page = httpx.get(f"{world.live.base_url}/console/login", headers=headers)
    nonce = set_cookies(login_page)["appliance_console_nonce"]
    form = {"email": world.emails["CLIENT_A"], "password": PASSWORD, "_csrf": csrf_token_of(login_page.text)}
    logged_in = httpx.post(
        f"{world.live.base_url}/console/login",
        data=form,
        headers={**headers, "Cookie": f"appliance_console_nonce={nonce.value}"},
    )
    assert logged_in.status_code == 303, logged_in.text
    session = set_cookies(logged_in)["appliance_console_session"]
    for cookie in (nonce, session):
        assert cookie["httponly"] is True and cookie["samesite"].lower() == "strict"
        assert cookie["path"] == "/console" and cookie["max-age"] == ""  # a browser-session cookie
        assert bool(cookie["secure"]) is tls


def test_every_page_carries_a_strict_content_security_policy(world: ConsoleWorld, operator: ConsoleVisitor) -> None:
    folder_id = world.review_folder["folder_id"]
    pages = [
        operator.get(path)
        for path in (
            "/console/login",
            "/console/folders",
            f"/console/folders/{folder_id}",
            f"/console/folders/{world.b_folder_id}",  # another company's: the 404 page
            "/console/statistics",
            "/console/statistics?period=forever",  # the 400 page
            "/console/system",
            "/console/statistics.csv",
        )
    ]
    pages.append(operator.post("/console/folders", {"meta_data": "not a condition"}))
    pages.append(httpx.get(f"{world.live.base_url}/console/login"))  # the login form, signed out
    assert [p.status_code for p in pages] == [200, 200, 200, 404, 200, 400, 200, 200, 400, 200]
    for page in pages:
        assert page.headers["content-security-policy"] == CSP, page.url
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["x-frame-options"] == "DENY"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
        if page.headers["content-type"].startswith("text/html"):
            assert not re.search(r"<script(?![^>]*\bsrc=)", page.text), "inline script"
            assert not re.search(r"\sstyle=|<style", page.text), "inline style"
            assert not re.search(r"\son[a-z]+=", page.text), "inline event handler"
    for asset in ("console.css", "console.js", "favicon.svg"):
        static = operator.get(f"/console/static/{asset}")
        assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"


def urls_in(html: str) -> list[str]:
    return re.findall(r'(?:href|src|action|poster)="([^"]*)"', html)


def test_no_personal_or_biometric_data_in_urls(world: ConsoleWorld, operator: ConsoleVisitor) -> None:
    folder_id = world.review_folder["folder_id"]
    folder_page = operator.get(f"/console/folders/{folder_id}").text
    search = operator.post("/console/folders", {"meta_data": f"transaction_id=={REVIEW_TRANSACTION}"}).text
    assert PERSON["first_name"] in folder_page and REVIEW_TRANSACTION in search  # shown on the pages...
    urls = urls_in(folder_page) + urls_in(search)
    secrets = [*PERSON.values(), REVIEW_TRANSACTION, "confidence", "embedding"]
    assert [u for u in urls for s in secrets if s.lower() in u.lower()] == []  # ...never in a link
    media = [u for u in urls if u.startswith("/api/")]
    # signed, relative media links: ids, an expiry and a signature, nothing else
    link = re.compile(
        r"^/api/(media/[0-9a-f-]{36}/(file|thumbnail|preview)|analyses/[0-9a-f-]{36}/images/[0-9a-f-]{36}/[a-z_]+)\?expires=\d+&(amp;)?signature=[0-9a-f]{64}$"
    )
    assert media and all(link.match(u) for u in media), media
    for url in media:  # and they open in the browser, cookies or not
        assert httpx.get(world.live.base_url + url.replace("&amp;", "&")).status_code == 200, url


def test_decision_rules_through_the_api(world: ConsoleWorld) -> None:
    folder_id = pending_folder(world.clients["CLIENT_A"], world.jpeg)
    operator = world.clients["CLIENT_OPERATOR_A"]
    path = f"/api/folders/{folder_id}/decision"

    def refused(body: dict[str, str], client: httpx.Client = operator) -> tuple[int, int]:
        response = client.post(path, json=body)
        return response.status_code, response.json()["error_code"]

    assert refused({"resolution": "SUCCESS", "comment": "  "}) == (400, 4)
    assert refused({"resolution": "MAYBE", "comment": "why not"}) == (400, 4)
    assert refused({"resolution": "SUCCESS", "comment": "x" * 2001}) == (400, 4)
    assert refused({"resolution": "SUCCESS", "comment": "ok"}, world.clients["CLIENT_A"]) == (403, 9)
    assert refused({"resolution": "SUCCESS", "comment": "ok"}, world.clients["CLIENT_B"]) == (404, 10)
    assert decisions_of(world, folder_id) == [] and result_of(world, folder_id) == "OPERATOR_REQUIRED"

    (decided,) = expect_status(operator.post(path, json={"resolution": "declined", "comment": " spoof "}), 201)
    assert (decided["new_resolution"], decided["comment"]) == ("DECLINED", "spoof")
    assert decided["user_email"] == world.emails["CLIENT_OPERATOR_A"]
    assert result_of(world, folder_id) == "DECLINED"
    assert refused({"resolution": "SUCCESS", "comment": "again"}) == (409, 102)  # nothing waits any more
    assert refused({"resolution": "SUCCESS", "comment": "ok"}, world.clients["ADMIN"]) == (409, 102)


def test_signing_out_ends_the_session(world: ConsoleWorld) -> None:
    visitor = ConsoleVisitor(world.live.base_url).log_in(world.emails["CLIENT_A"], PASSWORD)
    session = visitor.client.cookies["appliance_console_session"]
    out = visitor.post("/console/logout")
    assert (out.status_code, out.headers["location"]) == (303, "/console/login")
    assert "appliance_console_session" not in visitor.client.cookies
    with httpx.Client(base_url=world.live.base_url, cookies={"appliance_console_session": session}) as replay:
        again = replay.get("/console/folders")
    assert (again.status_code, again.headers["location"]) == (303, "/console/login")
    assert world.live.client(session).get("/api/users/me").status_code == 401  # the session itself is gone
    visitor.close()


def test_wrong_credentials_stay_on_the_login_form(world: ConsoleWorld) -> None:
    visitor = ConsoleVisitor(world.live.base_url)
    answer = visitor.post("/console/login", {"email": world.emails["CLIENT_B"], "password": "wrong"})
    assert error_code(answer) == (401, 7) and "wrong email or password" in answer.text
    assert "appliance_console_session" not in visitor.client.cookies
    assert visitor.get("/console/statistics").headers["location"] == "/console/login"
    visitor.close()


def test_the_capture_action_opens_a_session_for_who_may_add_media(
    world: ConsoleWorld, operator: ConsoleVisitor
) -> None:
    folder_id = world.review_folder["folder_id"]
    teller = ConsoleVisitor(world.live.base_url).log_in(world.emails["CLIENT_A"], PASSWORD)
    try:
        page = teller.get(f"/console/folders/{folder_id}")
        assert f'action="/console/folders/{folder_id}/capture"' in page.text
        assert error_code(teller.post(f"/console/folders/{folder_id}/capture", csrf=False)) == (403, 130)
        opened = teller.post(f"/console/folders/{folder_id}/capture")
        assert opened.status_code == 303 and re.fullmatch(r"/capture/[A-Za-z0-9_-]{40,}", opened.headers["location"])
        session = expect_status(teller.client.get(f"{opened.headers['location']}/session"), 200)
        assert session["state"] == "open" and len(session["steps"]) in (2, 3)
    finally:
        teller.close()
    # an operator reads the folder but may not add media to it: no action, and its form is refused
    assert "/capture" not in operator.get(f"/console/folders/{folder_id}").text
    assert error_code(operator.post(f"/console/folders/{folder_id}/capture")) == (403, 9)
