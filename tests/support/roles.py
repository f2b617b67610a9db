"""The cast of the role tests: two companies, one account per role, and the folders, media and
analyses they own, all set up through the API of a running appliance (tests/support/live.py).

Company A has a company admin, a CLIENT, a CLIENT_OPERATOR and a service CLIENT; company B a
CLIENT and a company admin; ADMIN and OPERATOR belong to no company. CLIENT_A, COMPANY_ADMIN_A
and CLIENT_B each own a folder with a photo tagged photo_selfie; CLIENT_A's also holds a shot set,
and the folders of CLIENT_A and CLIENT_B carry a finished BRIGHTNESS analysis. Company A also has
a collection (the blacklist plugin's) with one enrolled person, whose photo is the astronaut.
Setup waits until the workers have made every thumbnail and preview, so every file endpoint has
something to serve.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.live import ADMIN_EMAIL, ADMIN_PASSWORD, LiveAppliance

__all__ = [
    "ACCOUNTS",
    "ACCOUNT_OF",
    "ANALYSED",
    "ANONYMOUS",
    "CALLERS",
    "FOLDER_OWNERS",
    "PASSWORD",
    "ROLES",
    "Account",
    "Form",
    "World",
    "build_world",
    "expect_status",
    "photo_form",
]

ANONYMOUS = "anonymous"
#: The password of every account the role tests create (ADMIN keeps its own).
PASSWORD = "role-password-1"


@dataclass(frozen=True, slots=True)
class Account:
    """One caller of the role tests; `role` names it in test ids (e.g. CLIENT_B)."""

    role: str
    user_type: str
    company: str | None = None  # "A" or "B"
    is_admin: bool = False
    is_service: bool = False

    @property
    def email(self) -> str:
        return ADMIN_EMAIL if self.role == "ADMIN" else f"{self.role.lower()}@roles.test"

    @property
    def password(self) -> str:
        return ADMIN_PASSWORD if self.role == "ADMIN" else PASSWORD


ACCOUNTS = (
    Account("ADMIN", "ADMIN"),
    Account("OPERATOR", "OPERATOR"),
    Account("COMPANY_ADMIN_A", "CLIENT", "A", is_admin=True),
    Account("CLIENT_A", "CLIENT", "A"),
    Account("CLIENT_OPERATOR_A", "CLIENT_OPERATOR", "A"),
    Account("SERVICE_A", "CLIENT", "A", is_service=True),
    Account("CLIENT_B", "CLIENT", "B"),
    Account("COMPANY_ADMIN_B", "CLIENT", "B", is_admin=True),
)
ACCOUNT_OF = {account.role: account for account in ACCOUNTS}
ROLES = tuple(ACCOUNT_OF)
CALLERS = (*ROLES, ANONYMOUS)
#: The accounts owning a folder of the setup.
FOLDER_OWNERS = ("CLIENT_A", "COMPANY_ADMIN_A", "CLIENT_B")
#: The owners whose folder also carries a finished BRIGHTNESS analysis.
ANALYSED = ("CLIENT_A", "CLIENT_B")

#: A multipart body as httpx takes it: the text parts, and the files by part name.
Form = tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]


def photo_form(jpeg: bytes, *, analyses: list[dict[str, Any]] | None = None) -> Form:
    """One photo tagged photo_selfie, with `analyses` in the payload when given."""
    payload: dict[str, Any] = {"media:tags": {"photo": ["photo_selfie"]}}
    if analyses is not None:
        payload["analyses"] = analyses
    return {"payload": json.dumps(payload)}, {"photo": ("selfie.jpg", jpeg, "image/jpeg")}


def expect_status(response: httpx.Response, status: int) -> Any:
    """The JSON body of `response`, after checking its status."""
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.text}"
    return response.json() if response.content else None


@dataclass
class World:
    """The running appliance with the setup above: ids by name, one HTTP client per caller."""

    live: LiveAppliance
    jpeg: bytes
    company_ids: dict[str, str]  # "A", "B"
    user_ids: dict[str, str]  # by role
    clients: dict[str, httpx.Client]  # by caller; the anonymous one sends no token
    folders: dict[str, dict[str, Any]]  # by owner: the folder document with its analyses, once settled
    collection: dict[str, Any] = field(default_factory=dict)  # company A's collection document
    person: dict[str, Any] = field(default_factory=dict)  # the person enrolled in it, with their photo

    def client(self, caller: str) -> httpx.Client:
        return self.clients[caller]

    def media(self, owner: str, media_type: str) -> dict[str, Any]:
        return next(m for m in self.folders[owner]["media"] if m["media_type"] == media_type)

    def analysis(self, owner: str) -> dict[str, Any]:
        (analysis,) = self.folders[owner]["analyses"]
        return analysis

    def create_user(self, creator: str = "ADMIN", **fields: Any) -> httpx.Response:
        """POST /api/users as `creator`: a CLIENT of company A unless `fields` say otherwise."""
        body = {
            "email": f"user-{uuid.uuid4().hex[:12]}@roles.test",
            "password": PASSWORD,
            "user_type": "CLIENT",
            "company_id": self.company_ids["A"],
            **fields,
        }
        return self.client(creator).post("/api/users", json=body)

    def fresh_user(self) -> str:
        """A new CLIENT of company A, for one test to change or delete."""
        return expect_status(self.create_user(), 201)["user_id"]

    def fresh_company(self) -> str:
        """A new company without users or folders, for one test to delete."""
        created = self.client("ADMIN").post("/api/companies", json={"name": f"Company {uuid.uuid4().hex[:8]}"})
        return expect_status(created, 201)["company_id"]

    def fresh_folder(self) -> str:
        """A new folder of CLIENT_A holding one photo, for one test to delete."""
        data, files = photo_form(self.jpeg)
        return expect_status(self.client("CLIENT_A").post("/api/folders", data=data, files=files), 201)["folder_id"]

    def fresh_collection(self) -> str:
        """A new, empty collection of company A, for one test to delete."""
        body = {"alias": f"list {uuid.uuid4().hex[:8]}", "company_id": self.company_ids["A"]}
        return expect_status(self.client("ADMIN").post("/api/collections", json=body), 201)["collection_id"]

    def enrol(self) -> dict[str, Any]:
        """A new person in company A's collection, the astronaut photo enrolled: the person document."""
        data, files = photo_form(self.jpeg)
        path = f"/api/collections/{self.collection['collection_id']}/persons"
        return expect_status(self.client("ADMIN").post(path, data=data, files=files), 201)

    def log_in(self, account: Account) -> dict[str, Any]:
        """A new session of `account`: the tokens POST /api/authorize/auth answers."""
        credentials = {"email": account.email, "password": account.password}
        return expect_status(self.client(ANONYMOUS).post("/api/authorize/auth", json={"credentials": credentials}), 200)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()


def _settled(folder: dict[str, Any]) -> bool:
    """Every analysis finished, every thumbnail made, and the preview of every shot set."""
    return (
        all(a["state"] == "FINISHED" for a in folder["analyses"])
        and all(m["thumb_url"] for m in folder["media"])
        and all(m["preview_url"] for m in folder["media"] if m["media_type"] == "SHOTS_SET")
    )


def _wait_until_settled(world: World, timeout: float = 60.0) -> None:
    admin = world.client("ADMIN")
    deadline = time.monotonic() + timeout
    while True:
        for owner, folder in world.folders.items():
            response = admin.get(f"/api/folders/{folder['folder_id']}", params={"with_analyses": "true"})
            world.folders[owner] = expect_status(response, 200)
        if all(_settled(f) for f in world.folders.values()):
            return
        assert time.monotonic() < deadline, f"analyses or previews did not finish\n{world.live.logs()}"
        time.sleep(0.2)


def build_world(live: LiveAppliance, jpeg: bytes, shots_zip: bytes) -> World:
    """Set everything up through the API as ADMIN, then as each owner; see the module docstring."""
    world = World(live=live, jpeg=jpeg, company_ids={}, user_ids={}, clients={ANONYMOUS: live.client()}, folders={})
    world.clients["ADMIN"] = live.client(live.login())
    admin = world.client("ADMIN")
    for company in ("A", "B"):
        created = admin.post("/api/companies", json={"name": f"Company {company}"})
        world.company_ids[company] = expect_status(created, 201)["company_id"]
    world.user_ids["ADMIN"] = expect_status(admin.get("/api/users/me"), 200)["user_id"]
    for account in ACCOUNTS[1:]:
        created = world.create_user(
            email=account.email,
            password=account.password,
            user_type=account.user_type,
            company_id=world.company_ids[account.company] if account.company else None,
            is_admin=account.is_admin,
            is_service=account.is_service,
        )
        world.user_ids[account.role] = expect_status(created, 201)["user_id"]
        world.clients[account.role] = live.client(world.log_in(account)["access_token"])
    collection = {"alias": "watch list", "company_id": world.company_ids["A"]}
    world.collection = expect_status(admin.post("/api/collections", json=collection), 201)
    world.person = world.enrol()

    for owner in FOLDER_OWNERS:
        data, files = photo_form(jpeg)
        if owner == "CLIENT_A":
            data = {"payload": json.dumps({"media:tags": {"photo": ["photo_selfie"], "shots": ["video_selfie"]}})}
            files = {**files, "shots": ("shots.zip", shots_zip, "application/zip")}
        created = world.client(owner).post("/api/folders", data=data, files=files)
        world.folders[owner] = {**expect_status(created, 201), "analyses": []}
    for owner in ANALYSED:
        folder_id = world.folders[owner]["folder_id"]
        analyses = {"analyses": [{"type": "brightness"}]}
        expect_status(world.client(owner).post(f"/api/folders/{folder_id}/analyses", json=analyses), 201)
    _wait_until_settled(world)
    return world
