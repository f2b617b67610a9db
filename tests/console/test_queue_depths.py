"""Queue depths on the statistics page and in its CSV, over real HTTP and in Chromium: the samples
of the chosen period only, as a line per queue, for ADMIN and OPERATOR; nothing of the queues
for a company's users. The samples are written into the appliance's database as the scheduler
writes them (the console's appliance runs no scheduler, so no other sample lands there)."""

from __future__ import annotations

import csv
import io
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from playwright.sync_api import Browser, expect

from appliance.console.charts import BOTTOM, HEIGHT, LEFT, TOP
from appliance.store import open_store
from tests.console.browser import chromium
from tests.console.conftest import ConsoleWorld
from tests.console.test_browser import Visit
from tests.support.console import ConsoleVisitor
from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD
from tests.support.roles import PASSWORD, expect_status

pytestmark = pytest.mark.timeout(120)

SVG = "{http://www.w3.org/2000/svg}"
#: One hour of one-minute buckets, long ago: no other test's analyses or samples fall into it.
PERIOD = {"start": "2026-01-10T10:00", "end": "2026-01-10T11:00"}
PERIOD_QUERY = "start=2026-01-10T10%3A00&end=2026-01-10T11%3A00"


def utc(hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 1, 10, hour, minute, second, tzinfo=UTC)


#: (time, depths): two samples in the bucket of 10:05, one at 10:30, one on each side of the period.
SAMPLES = [
    (utc(9, 59, 59), {"analysis": 50, "preview": 0}),  # before the start
    (utc(10, 5, 10), {"analysis": 7, "preview": 1}),
    (utc(10, 5, 50), {"analysis": 9, "preview": 0}),
    (utc(10, 30, 10), {"analysis": 2, "preview": 0}),
    (utc(11, 0, 0), {"analysis": 60, "preview": 5}),  # the end is not in the period
]


@pytest.fixture(scope="module")
def sampled(world: ConsoleWorld) -> ConsoleWorld:
    """The world, with SAMPLES in its database."""
    store = open_store(f"sqlite:///{world.live.data_dir / 'appliance.db'}")
    try:
        for time_sampled, depths in SAMPLES:
            store.record_queue_depths(depths, time_sampled)
    finally:
        store.close()
    return world


@pytest.fixture(scope="module")
def accounts(sampled: ConsoleWorld) -> dict[str, tuple[str, str]]:
    """Email and password of each account the tests log in as; the OPERATOR is made here."""
    operator = f"operator-{uuid.uuid4().hex[:8]}@console.test"
    body = {"email": operator, "password": PASSWORD, "user_type": "OPERATOR", "company_id": None}
    expect_status(sampled.clients["ADMIN"].post("/api/users", json=body), 201)
    company_users = {name: (email, PASSWORD) for name, email in sampled.emails.items()}
    return {"ADMIN": (ADMIN_EMAIL, ADMIN_PASSWORD), "OPERATOR": (operator, PASSWORD), **company_users}


@pytest.fixture
def visitor(
    request: pytest.FixtureRequest, sampled: ConsoleWorld, accounts: dict[str, tuple[str, str]]
) -> Iterator[ConsoleVisitor]:
    """A console session of the account `request.param` names."""
    visitor = ConsoleVisitor(sampled.live.base_url).log_in(*accounts[request.param])
    yield visitor
    visitor.close()


def queue_chart(html: str) -> ET.Element:
    charts = [ET.fromstring(svg) for svg in re.findall(r'<svg class="chart".*?</svg>', html, re.S)]
    (chart,) = [c for c in charts if (c.findtext(f"{SVG}title") or "").startswith("Queue depth")]
    return chart


def table_rows(html: str) -> dict[str, tuple[str, str]]:
    """The queue table: queue -> (now, highest in the period)."""
    table = re.search(r'<table class="results" id="queues-table">.*?</table>', html, re.S)
    assert table, "no queue table"
    rows = re.findall(r'<th scope="row">(\w+)</th><td>([^<]*)</td><td>([^<]*)</td>', table.group(0))
    return {queue: (now, highest) for queue, now, highest in rows}


def csv_of(visitor: ConsoleVisitor) -> list[dict[str, str]]:
    response = visitor.get(f"/console/statistics.csv?{PERIOD_QUERY}")
    assert response.status_code == 200, response.text
    return list(csv.DictReader(io.StringIO(response.text)))


@pytest.mark.parametrize("visitor", ["ADMIN", "OPERATOR"], indirect=True)
def test_the_period_s_samples_are_drawn_per_queue(visitor: ConsoleVisitor) -> None:
    page = visitor.get("/console/statistics", params=PERIOD)
    assert page.status_code == 200, page.text
    chart = queue_chart(page.text)
    # each queue has values at 10:05 and 10:30 only: two lone values between gaps, a dot each
    dots = [(c.get("class"), float(c.get("cx", 0))) for c in chart.iter(f"{SVG}circle")]
    assert [css for css, _ in dots] == ["point series-analysis"] * 2 + ["point series-preview"] * 2
    (analysis_05, analysis_30), (preview_05, preview_30) = [x for _, x in dots[:2]], [x for _, x in dots[2:]]
    assert (analysis_05, analysis_30) == (preview_05, preview_30)
    step = (analysis_30 - analysis_05) / 25  # 25 buckets apart
    assert analysis_05 == pytest.approx(LEFT + 5 * step, abs=0.1)  # the plot starts at 10:00
    # 9, the peak of 10:05, is a tenth below the top of an axis that ends at 10: 50 and 60 were not in the period
    nine = next(float(c.get("cy", 0)) for c in chart.iter(f"{SVG}circle"))
    assert nine == pytest.approx(TOP + (HEIGHT - TOP - BOTTOM) * 0.1, abs=0.1)
    rows = table_rows(page.text)
    highest = {queue: peak for queue, (_, peak) in rows.items()}
    assert highest == {"analysis": "9", "default": "–", "maintenance": "–", "preview": "1", "resolution": "–"}
    assert all(now.isdigit() for now, _ in rows.values())  # read from the queues at the request


@pytest.mark.parametrize("visitor", ["ADMIN"], indirect=True)
def test_the_csv_holds_the_period_s_samples_and_the_depths_now(visitor: ConsoleVisitor) -> None:
    rows = csv_of(visitor)
    sampled = [(r["time"], r["queue"], r["value"]) for r in rows if r["metric"] == "queue_depth"]
    assert sampled == [
        ("2026-01-10T10:05:00+00:00", "analysis", "9"),
        ("2026-01-10T10:30:00+00:00", "analysis", "2"),
        ("2026-01-10T10:05:00+00:00", "preview", "1"),
        ("2026-01-10T10:30:00+00:00", "preview", "0"),
    ]
    now = [r for r in rows if r["metric"] == "queue_depth_now"]
    assert {r["queue"] for r in now} == {"default", "maintenance", "analysis", "resolution", "preview"}
    assert all(r["value"].isdigit() and datetime.fromisoformat(r["time"]) > utc(11, 0) for r in now)


@pytest.mark.parametrize("visitor", ["OPERATOR"], indirect=True)
def test_a_period_without_samples_says_so(visitor: ConsoleVisitor) -> None:
    page = visitor.get("/console/statistics", params={"start": "2026-01-09T10:00", "end": "2026-01-09T11:00"})
    assert page.status_code == 200
    assert 'id="no-queue-samples"' in page.text
    assert not list(queue_chart(page.text).iter(f"{SVG}polyline")) and "series-analysis" not in page.text
    assert {peak for _, peak in table_rows(page.text).values()} == {"–"}


@pytest.mark.parametrize("visitor", ["CLIENT_OPERATOR_A", "CLIENT_B"], indirect=True)
def test_a_company_s_users_get_nothing_of_the_queues(visitor: ConsoleVisitor) -> None:
    page = visitor.get("/console/statistics", params=PERIOD)
    assert page.status_code == 200
    assert "queues-title" not in page.text and "Queue depth" not in page.text and "queues-table" not in page.text
    rows = csv_of(visitor)
    assert rows and not [r for r in rows if r["metric"].startswith("queue_depth") or r["queue"]]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


def test_an_operator_sees_the_queue_depths_in_chromium(
    browser: Browser, sampled: ConsoleWorld, accounts: dict[str, tuple[str, str]]
) -> None:
    visit = Visit(browser, sampled)
    page = visit.log_in(accounts["OPERATOR"][0])
    page.goto(f"/console/statistics?{PERIOD_QUERY}")
    expect(page.locator("svg.chart")).to_have_count(4)
    expect(page.locator("#queues-table")).to_contain_text("analysis")
    expect(page.locator("svg.chart circle.point")).to_have_count(4)
    visit.shot("12-queue-depths")
    assert visit.errors == []
    visit.close()
