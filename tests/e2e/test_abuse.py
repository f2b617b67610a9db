"""Abuse, over real HTTP through the real server, on SQLite and on PostgreSQL with Redis: wrong
passwords throttle their address and never lock the owner out elsewhere, unknown and existing
accounts answer alike, delays double, `appliance users unlock`; rate limits per access token and
per address (429, 153); admission control past the analysis queue's depth (503, 154), with
nothing written.

Each test speaks from addresses of its own on the loopback network (127.0.0.x), so that their
counts do not mix: the server listens on 127.0.0.1 and sees each client's own address.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.deployments import DEPLOYMENTS, deployment_settings
from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD, LiveAppliance, run_command, running_appliance

PER_TOKEN = 40
PER_ADDRESS = 150
ADMISSION_DEPTH = 2
#: The first block, in seconds: long enough for the next request to meet it on a loaded machine.
FIRST_DELAY = 2
SETTINGS = {
    "RATE_LIMITS__PER_TOKEN_PER_MINUTE": str(PER_TOKEN),
    "RATE_LIMITS__PER_ADDRESS_PER_MINUTE": str(PER_ADDRESS),
    "QUEUE__ADMISSION_DEPTH": str(ADMISSION_DEPTH),
    "API__SINGLE_REQUEST_TIMEOUT_SECONDS": "0.5",
    "AUTH__LOGIN_FIRST_DELAY_SECONDS": str(FIRST_DELAY),
}
FREE_FAILURES = 5  # auth.login_free_failures, the default


@pytest.fixture(scope="module", params=DEPLOYMENTS)
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveAppliance]:
    """The API alone (no worker takes the analyses, so the analysis queue only grows)."""
    data_dir = tmp_path_factory.mktemp("abuse")
    with (
        deployment_settings(request.param) as deployment,
        running_appliance(data_dir, workers={}, scheduler=False, **SETTINGS, **deployment) as live,
    ):
        yield live


def client_at(live: LiveAppliance, address: str, token: str | None = None) -> httpx.Client:
    """A client whose requests leave from `address` (127.0.0.x)."""
    headers = {"X-Forensic-Access-Token": token} if token else {}
    transport = httpx.HTTPTransport(local_address=address)
    return httpx.Client(base_url=live.base_url, headers=headers, transport=transport, timeout=30)


def log_in(client: httpx.Client, email: str, password: str) -> httpx.Response:
    return client.post("/api/authorize/auth", json={"credentials": {"email": email, "password": password}})


def test_an_attack_from_one_address_does_not_stop_the_owner_at_another(live: LiveAppliance) -> None:
    with client_at(live, "127.0.0.2") as attacker, client_at(live, "127.0.0.3") as owner:
        answers = [log_in(attacker, ADMIN_EMAIL, f"guess-{i}").status_code for i in range(FREE_FAILURES + 3)]
        assert answers[: FREE_FAILURES + 1] == [401] * (FREE_FAILURES + 1)
        assert 429 in answers[FREE_FAILURES + 1 :]
        refused = log_in(attacker, ADMIN_EMAIL, ADMIN_PASSWORD)  # even the right password, from there
        assert refused.status_code == 429 and refused.json()["error_code"] == 157
        assert int(refused.headers["Retry-After"]) >= 1
        assert log_in(owner, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200


def test_unknown_and_throttled_accounts_look_the_same(live: LiveAppliance) -> None:
    """The same statuses, codes and messages in the same order, whether or not the email has an account."""

    def answers(address: str, email: str) -> list[tuple[int, dict[str, object], str | None]]:
        with client_at(live, address) as client:
            tries = [log_in(client, email, "wrong password") for _ in range(FREE_FAILURES + 1)]
            tries.append(log_in(client, email, ADMIN_PASSWORD))
        return [(r.status_code, r.json(), r.headers.get("Retry-After")) for r in tries]

    existing, missing = answers("127.0.0.4", ADMIN_EMAIL), answers("127.0.0.5", "nobody@appliance.test")
    assert [status for status, _, _ in existing] == [401] * (FREE_FAILURES + 1) + [429]
    assert existing == missing
    assert existing[-1][1]["error_code"] == 157 and existing[-1][2] == str(FIRST_DELAY)


def test_delays_double_with_each_failure(live: LiveAppliance) -> None:
    with client_at(live, "127.0.0.6") as client:
        for _ in range(FREE_FAILURES):
            assert log_in(client, ADMIN_EMAIL, "wrong password").status_code == 401
        waits = []
        for _ in range(3):
            assert log_in(client, ADMIN_EMAIL, "wrong password").status_code == 401
            refused = log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD)
            assert refused.status_code == 429, refused.text
            waits.append(int(refused.headers["Retry-After"]))
            time.sleep(waits[-1] + 0.1)
        assert waits == [FIRST_DELAY, 2 * FIRST_DELAY, 4 * FIRST_DELAY]
        assert log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200


def test_unlock_forgets_the_failures(live: LiveAppliance) -> None:
    with client_at(live, "127.0.0.7") as client:
        for _ in range(FREE_FAILURES + 1):
            log_in(client, ADMIN_EMAIL, "wrong password")
        assert log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 429
        done = run_command(live.env, "users", "unlock", ADMIN_EMAIL.upper())
        assert done.returncode == 0, done.stderr
        (line,) = done.stdout.strip().splitlines()
        assert re.fullmatch(
            rf"unlocked {re.escape(ADMIN_EMAIL.upper())}: its failed logins forgotten \(\d+ address(es)?\)", line
        )
        assert log_in(client, ADMIN_EMAIL, ADMIN_PASSWORD).status_code == 200
    unknown = run_command(live.env, "users", "unlock", "nobody@appliance.test")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "appliance: no user nobody@appliance.test"


def test_a_token_past_its_limit_is_refused_with_retry_after(live: LiveAppliance) -> None:
    with client_at(live, "127.0.0.8") as anonymous:
        token = log_in(anonymous, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"]
        other = log_in(anonymous, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"]
    with client_at(live, "127.0.0.8", token) as client, client_at(live, "127.0.0.8", other) as second:
        statuses = [client.get("/api/folders/").status_code for _ in range(PER_TOKEN)]
        assert statuses == [200] * PER_TOKEN
        refused = client.get("/api/folders/")
        assert refused.status_code == 429
        body = refused.json()
        assert (body["error_code"], body["error_name"]) == (153, "RATE_LIMITED")
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert body["details"]["retry_after_seconds"] == int(refused.headers["Retry-After"])
        assert second.get("/api/folders/").status_code == 200  # another token of the same address
        assert client.get("/health/live").status_code == 200  # health is never limited


def test_an_address_past_its_limit_is_refused_but_health_and_metrics_are_not(live: LiveAppliance) -> None:
    with client_at(live, "127.0.0.9") as client:
        statuses = [client.get("/api/folders/").status_code for _ in range(PER_ADDRESS)]
        assert statuses == [401] * PER_ADDRESS  # no token: counted per address all the same
        refused = client.get("/api/folders/")
        assert refused.status_code == 429 and refused.json()["error_code"] == 153
        assert "Retry-After" in refused.headers
        assert client.get("/health/live").status_code == 200
        assert client.get("/health/ready").status_code == 200
        assert client.get("/metrics").status_code == 401  # refused for want of a token, not limited
    with client_at(live, "127.0.0.10") as elsewhere:
        assert elsewhere.get("/api/folders/").status_code == 401


def _stored_files(live: LiveAppliance) -> list[Path]:
    return sorted(p for p in (live.data_dir / "media").rglob("*") if p.is_file() and "tmp" not in p.parts)


def test_uploads_asking_for_analyses_past_the_queue_depth_are_refused_with_nothing_written(
    live: LiveAppliance, samples: dict[str, Path]
) -> None:
    with client_at(live, "127.0.0.11") as anonymous:
        token = log_in(anonymous, ADMIN_EMAIL, ADMIN_PASSWORD).json()["access_token"]
    with client_at(live, "127.0.0.11", token) as client:

        def upload(analyses: bool) -> httpx.Response:
            payload: dict[str, object] = {"media:tags": {"photo1": ["photo_selfie"]}}
            if analyses:
                payload["analyses"] = [{"type": "brightness"}]
            with samples["jpeg"].open("rb") as photo:
                return client.post("/api/folders/", data={"payload": json.dumps(payload)}, files={"photo1": photo})

        folder = upload(analyses=False).json()
        for _ in range(ADMISSION_DEPTH):  # no worker takes them: the analysis queue grows
            started = client.post(
                f"/api/folders/{folder['folder_id']}/analyses/", json={"analyses": [{"type": "brightness"}]}
            )
            assert started.status_code in (200, 201), started.text
        folders_before, files_before = client.get("/api/folders/").json()["total"], _stored_files(live)

        refused = upload(analyses=True)
        assert refused.status_code == 503, refused.text
        body = refused.json()
        assert (body["error_code"], body["error_name"]) == (154, "QUEUE_FULL")
        assert refused.headers["Retry-After"] == "30" and body["details"]["queue_depth"] >= ADMISSION_DEPTH
        again = client.post(
            f"/api/folders/{folder['folder_id']}/analyses/", json={"analyses": [{"type": "brightness"}]}
        )
        assert again.status_code == 503 and again.json()["error_code"] == 154
        assert client.get("/api/folders/").json()["total"] == folders_before
        assert _stored_files(live) == files_before
        analyses = client.get(f"/api/folders/{folder['folder_id']}/analyses/").json()
        assert len(analyses) == ADMISSION_DEPTH
        assert upload(analyses=False).status_code == 201  # media without analyses are still taken
