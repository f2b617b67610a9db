"""Operator decisions through the API on one host (SQLite) and on the two-host stack
(PostgreSQL, Redis): the folder's result changes, its webhook goes out again, and of two
operators deciding at once one wins."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.console import pending_folder
from tests.support.live import LiveAppliance
from tests.support.roles import expect_status
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.timeout(180)


def test_a_decision_settles_the_folder_and_sends_its_webhook(live: LiveAppliance, samples: dict[str, Path]) -> None:
    client = live.client(live.login())
    with WebhookReceiver() as hooks:
        folder_id = pending_folder(client, samples["jpeg"].read_bytes(), hooks.url())
        (first,) = hooks.wait_for(1)
        assert first.json()["system_resolution"] == "OPERATOR_REQUIRED"
        decision = {"resolution": "DECLINED", "comment": "the ID photo is of someone else"}
        (recorded,) = expect_status(client.post(f"/api/folders/{folder_id}/decision", json=decision), 201)
        _, second = hooks.wait_for(2)
    body = second.json()
    assert (body["folder_id"], body["resolution_status"], body["system_resolution"]) == (
        folder_id,
        "FINISHED",
        "DECLINED",
    )
    (analysis,) = body["analyses"]
    assert analysis["resolution_status"] == "DECLINED" and analysis["results_data"]["min_luma"] == 40
    trail = expect_status(client.get(f"/api/folders/{folder_id}/decisions"), 200)
    assert trail == [recorded] and recorded["analysis_id"] == analysis["analysis_id"]
    assert recorded["comment"] == decision["comment"] and recorded["user_email"] == "admin@appliance.test"


def test_of_two_operators_deciding_at_once_one_wins(live: LiveAppliance, samples: dict[str, Path]) -> None:
    client = live.client(live.login())
    folder_id = pending_folder(client, samples["jpeg"].read_bytes())
    decisions = [{"resolution": r, "comment": f"operator {i}"} for i, r in enumerate(("SUCCESS", "DECLINED") * 2)]

    def decide(decision: dict[str, str]) -> httpx.Response:
        with live.client(live.login()) as operator:  # a session of its own
            return operator.post(f"/api/folders/{folder_id}/decision", json=decision)

    with ThreadPoolExecutor(len(decisions)) as pool:
        answers = list(pool.map(decide, decisions))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    (winner,) = [d for d, a in zip(decisions, answers, strict=True) if a.status_code == 201]
    (row,) = expect_status(client.get(f"/api/folders/{folder_id}/decisions"), 200)
    assert (row["new_resolution"], row["comment"]) == (winner["resolution"], winner["comment"])
    assert expect_status(client.get(f"/api/folders/{folder_id}"), 200)["system_resolution"] == winner["resolution"]
