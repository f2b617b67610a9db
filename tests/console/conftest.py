"""One running appliance (SQLite, local queues) for the console tests, set up through its API.

Company A has a CLIENT (who uploads) and a CLIENT_OPERATOR (who decides); company B has a
CLIENT. Company A's review folder holds the astronaut's selfie and an ID card made from it, with
QUALITY, BIOMETRY and a BRIGHTNESS analysis set to ask for an operator, so the folder waits for
a decision; its meta_data names a person, which must never appear in a URL. Company A has a
second, settled folder, and company B one folder of its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.id_photos import id_card_from
from tests.support.live import LiveAppliance, poll_folder, running_appliance
from tests.support.media_samples import ASTRONAUT_FACE, astronaut_rgb, jpeg_bytes
from tests.support.roles import PASSWORD, expect_status

#: Written into the review folder's meta_data: the console must never put these in a URL.
PERSON = {"first_name": "Alice", "last_name": "Kowalska"}
REVIEW_TRANSACTION = "TX-REVIEW-7731"


@dataclass
class ConsoleWorld:
    live: LiveAppliance
    jpeg: bytes
    emails: dict[str, str]  # CLIENT_A, CLIENT_OPERATOR_A, CLIENT_B -> email (password PASSWORD)
    clients: dict[str, httpx.Client]  # API clients by account, ADMIN included
    review_folder: dict[str, Any]  # company A's folder waiting for a decision, as the API shows it
    settled_folder_id: str  # company A's other folder
    b_folder_id: str  # company B's folder

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _create_account(admin: httpx.Client, name: str, user_type: str, company_id: str) -> str:
    email = f"{name.lower()}@console.test"
    body = {"email": email, "password": PASSWORD, "user_type": user_type, "company_id": company_id}
    expect_status(admin.post("/api/users", json=body), 201)
    return email


def _upload(client: httpx.Client, files: dict[str, tuple[str, bytes, str]], payload: dict[str, Any]) -> dict[str, Any]:
    created = client.post("/api/folders", data={"payload": json.dumps(payload)}, files=files)
    return expect_status(created, 201)


@pytest.fixture(scope="package")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ConsoleWorld]:
    samples = tmp_path_factory.mktemp("console-samples")
    jpeg = jpeg_bytes(astronaut_rgb())
    card = id_card_from(astronaut_rgb(), ASTRONAUT_FACE, samples / "id.jpg").read_bytes()
    workers = {"analysis": 2, "preview": 1, "resolution": 1}
    with running_appliance(tmp_path_factory.mktemp("appliance"), workers=workers, scheduler=False) as live:
        admin = live.client(live.login(), timeout=180)
        companies = {c: expect_status(admin.post("/api/companies", json={"name": f"Console {c}"}), 201) for c in "AB"}
        company_ids = {c: doc["company_id"] for c, doc in companies.items()}
        emails = {
            "CLIENT_A": _create_account(admin, "CLIENT_A", "CLIENT", company_ids["A"]),
            "CLIENT_OPERATOR_A": _create_account(admin, "CLIENT_OPERATOR_A", "CLIENT_OPERATOR", company_ids["A"]),
            "CLIENT_B": _create_account(admin, "CLIENT_B", "CLIENT", company_ids["B"]),
        }
        clients = {"ADMIN": admin} | {
            name: live.client(live.login(email, PASSWORD), timeout=180) for name, email in emails.items()
        }
        review = _upload(
            clients["CLIENT_A"],
            {"selfie": ("selfie.jpg", jpeg, "image/jpeg"), "id": ("id-card.jpg", card, "image/jpeg")},
            {
                "media:tags": {"selfie": ["photo_selfie"], "id": ["photo_id", "photo_id_front"]},
                "folder:meta_data": {"transaction_id": REVIEW_TRANSACTION, "person_info": PERSON},
                "analyses": [
                    {"type": "quality"},
                    {"type": "biometry"},
                    {"type": "brightness", "params": {"in_range_resolution": "OPERATOR_REQUIRED"}},
                ],
            },
        )
        settled = _upload(
            clients["CLIENT_A"],
            {"photo": ("other.jpg", jpeg, "image/jpeg")},
            {
                "media:tags": {"photo": ["photo_selfie"]},
                "folder:meta_data": {"transaction_id": "TX-SETTLED-1"},
                "analyses": [{"type": "brightness"}],
            },
        )
        b_folder = _upload(
            clients["CLIENT_B"],
            {"photo": ("b.jpg", jpeg, "image/jpeg")},
            {
                "media:tags": {"photo": ["photo_selfie"]},
                "folder:meta_data": {"transaction_id": "TX-B-1"},
                "analyses": [{"type": "brightness"}],
            },
        )
        review = poll_folder(clients["CLIENT_A"], review["folder_id"], timeout=180)
        outcome = (review["resolution_status"], review["system_resolution"])
        assert outcome == ("FINISHED", "OPERATOR_REQUIRED"), f"{review}\n{live.logs()}"
        world = ConsoleWorld(
            live=live,
            jpeg=jpeg,
            emails=emails,
            clients=clients,
            review_folder=review,
            settled_folder_id=settled["folder_id"],
            b_folder_id=b_folder["folder_id"],
        )
        try:
            yield world
        finally:
            world.close()
