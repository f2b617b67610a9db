"""The console in headless Chromium: an operator logs in, finds the folder that waits for a
decision, reads its results, decides it with a comment, and reads the statistics; a user of
another company sees none of it; an ADMIN keeps a watch list (the blacklist plugin's collections
pages). Each step leaves a screenshot in artifacts/screenshots/."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Response, expect

from tests.console.browser import SCREENSHOTS, chromium
from tests.console.conftest import PERSON, REVIEW_TRANSACTION, ConsoleWorld
from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.support.roles import PASSWORD, expect_status

pytestmark = pytest.mark.timeout(300)

COMMENT = "Checked the ID card against the selfie by hand"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


class Visit:
    """A browser tab of one user, recording every URL it requests, every image, style or script
    that failed to load, and every script error or Content-Security-Policy violation."""

    def __init__(self, browser: Browser, world: ConsoleWorld) -> None:
        self.context = browser.new_context(accept_downloads=True, base_url=world.live.base_url)
        self.page: Page = self.context.new_page()
        self.urls: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda request: self.urls.append(request.url))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("console", self._console)
        self.page.on("response", self._response)

    def _console(self, message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            self.errors.append(message.text)

    def _response(self, response: Response) -> None:
        if response.request.resource_type != "document" and response.status >= 400:
            self.errors.append(f"{response.status} {response.url}")

    def log_in(self, email: str, password: str = PASSWORD) -> Page:
        page = self.page
        page.goto("/console/folders")
        expect(page).to_have_url(re.compile(r"/console/login$"))
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        expect(page).to_have_url(re.compile(r"/console/folders$"))
        return page

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    def close(self) -> None:
        self.context.close()


def images_loaded(page: Page, selector: str) -> list[bool]:
    return page.eval_on_selector_all(selector, "images => images.map(i => i.complete && i.naturalWidth > 0)")


def test_an_operator_finds_reviews_and_decides_a_folder(browser: Browser, world: ConsoleWorld) -> None:
    folder_id = world.review_folder["folder_id"]
    visit = Visit(browser, world)
    page = visit.page
    page.goto("/console/login")
    visit.shot("01-login")
    visit.log_in(world.emails["CLIENT_OPERATOR_A"])

    # find it: the company's folders, narrowed by status, result and meta_data
    page.get_by_label("Status").select_option("FINISHED")
    page.get_by_label("Result").select_option("OPERATOR_REQUIRED")
    page.get_by_label(re.compile("^meta_data")).fill(f"transaction_id=={REVIEW_TRANSACTION}")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^1 folder\b"))
    expect(page.locator("a.folder-link")).to_have_text([folder_id[:8]])
    visit.shot("02-folders-filtered")

    # open it: media, every analysis's numbers and images, the best shot
    page.locator("a.folder-link").click()
    expect(page).to_have_url(re.compile(f"/console/folders/{folder_id}$"))
    expect(page.locator("#folder-result")).to_have_text("OPERATOR_REQUIRED")
    for heading in ("QUALITY", "BIOMETRY", "BRIGHTNESS"):
        expect(page.get_by_role("heading", name=re.compile(f"^{heading} "))).to_be_visible()
    expect(page.locator("table caption", has_text="Face match")).to_be_visible()
    expect(page.locator("table caption", has_text="Liveness").first).to_be_visible()
    # no PAD model on this appliance: QUALITY asks for the operator too, and the page says why
    expect(page.locator("td", has_text="pad_model_missing").first).to_be_visible()
    expect(page.get_by_role("img", name=re.compile("^best shot of selfie.jpg"))).to_be_visible()
    expect(page.locator("td", has_text=PERSON["first_name"])).to_be_visible()  # meta_data shown on the page
    assert images_loaded(page, "figure img") and all(images_loaded(page, "figure img"))
    visit.shot("03-folder")

    # a decision needs a comment
    decision = page.locator("section.decision")
    decision.get_by_role("button", name="Record the decision").click()
    expect(page.get_by_role("alert")).to_contain_text("a comment is required")
    expect(page.locator("#folder-result")).to_have_text("OPERATOR_REQUIRED")
    visit.shot("04-comment-required")

    page.get_by_role("radio", name="SUCCESS").check()
    page.get_by_label("Comment (required)").fill(COMMENT)
    page.get_by_role("button", name="Record the decision").click()
    expect(page).to_have_url(re.compile(f"/console/folders/{folder_id}$"))
    expect(page.locator("#folder-result")).to_have_text("SUCCESS")
    trail = page.locator("#audit-trail tbody tr")
    expect(trail).to_have_count(2)  # BRIGHTNESS and QUALITY both waited for the operator
    expect(trail).to_contain_text([re.compile(f"{world.emails['CLIENT_OPERATOR_A']}.*OPERATOR_REQUIRED.*SUCCESS")])
    expect(trail).to_contain_text([COMMENT])
    expect(page.locator("section.decision")).to_have_count(0)
    visit.shot("05-decided")

    # the same decision through the API
    api = world.clients["CLIENT_A"]
    decided = expect_status(api.get(f"/api/folders/{folder_id}/decisions"), 200)
    waiting = {a["analysis_id"] for a in world.review_folder["analyses"] if a["type"] in ("BRIGHTNESS", "QUALITY")}
    assert {d["analysis_id"] for d in decided} == waiting and {d["comment"] for d in decided} == {COMMENT}
    assert {(d["old_resolution"], d["new_resolution"]) for d in decided} == {("OPERATOR_REQUIRED", "SUCCESS")}
    folder = expect_status(api.get(f"/api/folders/{folder_id}", params={"with_analyses": "true"}), 200)
    assert folder["system_resolution"] == "SUCCESS"
    assert {a["type"]: a["resolution_status"] for a in folder["analyses"]}["BRIGHTNESS"] == "SUCCESS"

    # statistics and their CSV
    page.get_by_role("link", name="Statistics").click()
    expect(page.locator("#decisions-table")).to_contain_text("BRIGHTNESS")
    expect(page.locator("svg.chart")).to_have_count(3)  # a CLIENT_OPERATOR is not shown the queues
    visit.shot("06-statistics")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    saved = SCREENSHOTS / "statistics.csv"
    download.value.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text())))
    counted = {(r["type"], r["resolution"]): int(r["value"]) for r in rows if r["metric"] == "analyses"}
    assert counted[("QUALITY", "SUCCESS")] >= 1 and counted[("BIOMETRY", "SUCCESS")] >= 1
    assert any(r["metric"] == "run_seconds_p95" and r["type"] == "all" for r in rows)

    page.get_by_role("link", name="Models and health").click()
    expect(page.locator("#health")).to_contain_text("PASS")
    expect(page.locator("#models")).to_contain_text("blazeface")
    visit.shot("07-system")

    # nothing about the person in any URL the browser asked for
    leaked = [u for u in visit.urls for secret in (*PERSON.values(), REVIEW_TRANSACTION) if secret in u]
    assert leaked == []
    assert visit.errors == []
    visit.close()


def test_a_user_of_another_company_sees_none_of_its_folders(browser: Browser, world: ConsoleWorld) -> None:
    visit = Visit(browser, world)
    page = visit.log_in(world.emails["CLIENT_B"])
    expect(page.locator("a.folder-link")).to_have_text([world.b_folder_id[:8]])
    page.get_by_label(re.compile("^meta_data")).fill(f"transaction_id=={REVIEW_TRANSACTION}")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("status")).to_have_text(re.compile(r"^0 folders"))
    visit.shot("08-other-company-search")

    for folder_id in (world.review_folder["folder_id"], world.settled_folder_id):
        response = page.goto(f"/console/folders/{folder_id}")
        assert response is not None and response.status == 404
        expect(page.get_by_role("alert")).to_contain_text("NOT_EXIST")
    visit.shot("09-other-company-folder-404")

    page.goto("/console/statistics?period=24h")
    expect(page.locator("#stats-summary")).to_contain_text("1 analyses ended")  # its own BRIGHTNESS only
    expect(page.locator("#decisions-table tbody tr")).to_have_count(1)
    expect(page.locator("#decisions-table")).not_to_contain_text("QUALITY")
    visit.shot("10-other-company-statistics")
    assert visit.errors == []
    visit.close()


def test_an_admin_keeps_a_watch_list(browser: Browser, world: ConsoleWorld) -> None:
    visit = Visit(browser, world)
    page = visit.log_in(ADMIN_EMAIL, ADMIN_PASSWORD)
    page.get_by_role("link", name="Collections").click()
    expect(page).to_have_url(re.compile(r"/console/collections$"))
    page.get_by_label("Alias").fill("Known fraudsters")
    page.get_by_label("Company").select_option(label="Console A")
    page.get_by_role("button", name="Create the collection").click()
    expect(page).to_have_url(re.compile(r"/console/collections/[0-9a-f-]{36}$"))
    expect(page.get_by_role("heading", name="Collection Known fraudsters")).to_be_visible()

    page.get_by_label("First name").fill(PERSON["first_name"])
    page.get_by_label("Last name").fill(PERSON["last_name"])
    page.get_by_label("Photo of the face").set_input_files(
        {"name": "astronaut.jpg", "mimeType": "image/jpeg", "buffer": world.jpeg}
    )
    page.get_by_role("button", name="Add the person").click()
    persons = page.locator("#persons tbody tr")
    expect(persons).to_have_count(1)
    expect(persons).to_contain_text(f"{PERSON['first_name']} {PERSON['last_name']}")
    expect(page.get_by_role("img", name=f"Photo 1 of {PERSON['first_name']}")).to_be_visible()
    assert images_loaded(page, "img.thumb") == [True]
    visit.shot("11-collection")

    leaked = [u for u in visit.urls for secret in PERSON.values() if secret in u]
    assert leaked == []
    assert visit.errors == []
    visit.close()
