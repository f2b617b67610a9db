"""The collections pages of the operator console, over real HTTP (the appliance's API and console
with this plugin, `ApplianceServer`), with the real face models: a company's admin creates a
collection, adds a person from the astronaut's photo and removes them again; another company's
users neither see nor change it; a form without its CSRF token changes nothing; a photo without a
face is refused on the page and leaves no row and no file."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import appliance_plugin_blacklist
import cv2
import numpy as np
import pytest
from appliance_plugin_blacklist.repository import CollectionRepository
from skimage import data

from appliance.sdk.testing import ApplianceServer, ConsoleVisitor

PAGE = "/console/collections"
COLLECTION_LINK = re.compile(r'href="/console/collections/([0-9a-f-]{36})"')
PHOTO_LINK = re.compile(r'src="(/console/collections/[0-9a-f-]{36}/persons/[0-9a-f-]{36}/photos/[0-9a-f-]{36})"')


def jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    assert ok
    return encoded.tobytes()


ASTRONAUT = jpeg(data.astronaut())
BLANK = jpeg(np.full((480, 640, 3), 128, np.uint8))


@dataclass
class Cast:
    """Company A's admin and a plain CLIENT, company B's admin, and an ADMIN, each signed in."""

    server: ApplianceServer
    company_a: str
    company_b: str
    admin_a: ConsoleVisitor
    client_a: ConsoleVisitor
    admin_b: ConsoleVisitor
    admin: ConsoleVisitor

    def close(self) -> None:
        for visitor in (self.admin_a, self.client_a, self.admin_b, self.admin):
            visitor.close()


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory, models: Path) -> Iterator[Cast]:
    with ApplianceServer(appliance_plugin_blacklist, tmp_path_factory.mktemp("appliance"), models=models) as server:
        company_a, company_b = server.create_company("Company A"), server.create_company("Company B")
        cast = Cast(
            server=server,
            company_a=company_a,
            company_b=company_b,
            admin_a=server.console(server.create_user("CLIENT", company_a, is_admin=True)),
            client_a=server.console(server.create_user("CLIENT", company_a)),
            admin_b=server.console(server.create_user("CLIENT", company_b, is_admin=True)),
            admin=server.console(server.create_user("ADMIN")),
        )
        try:
            yield cast
        finally:
            cast.close()


def stored_files(server: ApplianceServer) -> list[Path]:
    return [p for p in (server.services.files.spool_dir.parent / "files").rglob("*") if p.is_file()]


def persons_of(server: ApplianceServer, collection_id: str) -> int:
    return CollectionRepository(server.services.db).list_persons(collection_id, 0, 1000)[1]


def create(visitor: ConsoleVisitor, alias: str, **fields: str) -> str:
    """A new collection made through the list page's form; its id."""
    visitor.get(PAGE)
    created = visitor.post(PAGE, {"alias": alias, **fields})
    assert created.status_code == 303, created.text
    return created.headers["location"].rsplit("/", 1)[1]


def add_person(visitor: ConsoleVisitor, collection_id: str, photo: bytes, **names: str) -> ConsoleVisitor:
    visitor.get(f"{PAGE}/{collection_id}")
    return visitor.post(f"{PAGE}/{collection_id}/persons", names, files={"photo": ("photo.jpg", photo, "image/jpeg")})


def refusal(response: object) -> tuple[int, str]:
    return response.status_code, response.headers.get("X-Error-Code", "")  # type: ignore[attr-defined]


def test_an_admin_of_the_company_creates_fills_and_empties_a_collection(cast: Cast) -> None:
    collection_id = create(cast.admin_a, "Shoplifters")
    listed = cast.admin_a.get(PAGE)
    assert collection_id in COLLECTION_LINK.findall(listed.text) and "Shoplifters" in listed.text
    assert '<a href="/console/collections" aria-current="page">Collections</a>' in listed.text

    added = add_person(cast.admin_a, collection_id, ASTRONAUT, first_name="Eileen", last_name="Collins")
    assert (added.status_code, added.headers["location"]) == (303, f"{PAGE}/{collection_id}")
    page = cast.admin_a.get(f"{PAGE}/{collection_id}")
    assert "Eileen Collins" in page.text and "person_info.first_name=Eileen" in page.text
    assert "<code>dlib-resnet@0.3.0</code>: 1 of 1 photos enrolled with it</dd>" in page.text
    (photo_link,) = PHOTO_LINK.findall(page.text)
    assert "Eileen" not in photo_link
    photo = cast.admin_a.get(photo_link)
    assert (photo.status_code, photo.headers["content-type"], photo.content) == (200, "image/jpeg", ASTRONAUT)
    assert photo.headers["Cache-Control"] == "no-store"
    assert cast.client_a.get(photo_link).content == ASTRONAUT  # everyone of the company reads
    assert persons_of(cast.server, collection_id) == 1 and len(stored_files(cast.server)) == 1

    person_id = photo_link.split("/")[5]
    removed = cast.admin_a.post(f"{PAGE}/{collection_id}/persons/{person_id}/delete")
    assert (removed.status_code, removed.headers["location"]) == (303, f"{PAGE}/{collection_id}")
    assert persons_of(cast.server, collection_id) == 0 and stored_files(cast.server) == []
    assert refusal(cast.admin_a.get(photo_link)) == (404, "10")

    deleted = cast.admin_a.post(f"{PAGE}/{collection_id}/delete")
    assert (deleted.status_code, deleted.headers["location"]) == (303, PAGE)
    assert collection_id not in COLLECTION_LINK.findall(cast.admin_a.get(PAGE).text)


def test_an_admin_creates_in_the_company_they_choose_and_sees_every_company(cast: Cast) -> None:
    form = cast.admin.get(PAGE).text
    assert f'<option value="{cast.company_b}"' in form and f'<option value="{cast.company_a}"' in form
    collection_id = create(cast.admin, "Chosen by the ADMIN", company_id=cast.company_b)
    assert collection_id in COLLECTION_LINK.findall(cast.admin_b.get(PAGE).text)
    assert collection_id not in COLLECTION_LINK.findall(cast.admin_a.get(PAGE).text)
    listed = cast.admin.get(PAGE).text
    assert collection_id in COLLECTION_LINK.findall(listed) and "Company B" in listed
    again = cast.admin.post(PAGE, {"alias": "Chosen by the ADMIN", "company_id": cast.company_b})
    assert refusal(again) == (409, "102") and 'role="alert" id="collection-error"' in again.text


def test_who_may_not_create_a_collection_is_told_who_may(cast: Cast, tmp_path: Path, models: Path) -> None:
    page = cast.client_a.get(PAGE).text
    assert 'action="/console/collections"' not in page
    assert "Collections are created by an ADMIN or by an admin of their company." in page
    with ApplianceServer(appliance_plugin_blacklist, tmp_path / "fresh", models=models) as fresh:  # no company yet
        admin = fresh.console(fresh.create_user("ADMIN"))
        page = admin.get(PAGE).text
        admin.close()
    assert 'action="/console/collections"' not in page and "there is none yet" in page


def test_another_company_neither_sees_nor_changes_a_collection(cast: Cast) -> None:
    collection_id = create(cast.admin_a, "Company A's watch list")
    assert add_person(cast.admin_a, collection_id, ASTRONAUT, first_name="Eileen").status_code == 303
    (photo_link,) = PHOTO_LINK.findall(cast.admin_a.get(f"{PAGE}/{collection_id}").text)
    person_id = photo_link.split("/")[5]
    files_before = stored_files(cast.server)

    outsider = cast.admin_b
    assert collection_id not in outsider.get(PAGE).text
    assert refusal(outsider.get(f"{PAGE}/{collection_id}")) == (404, "10")
    assert refusal(outsider.get(photo_link)) == (404, "10")
    outsider.get(PAGE)  # a token of the outsider's own session: only the collection's company is wrong
    assert refusal(outsider.post(f"{PAGE}/{collection_id}/delete")) == (404, "10")
    assert refusal(outsider.post(f"{PAGE}/{collection_id}/persons/{person_id}/delete")) == (404, "10")
    assert refusal(add_person(outsider, collection_id, ASTRONAUT)) == (404, "10")
    outsider.get(PAGE)
    taken = outsider.post(PAGE, {"alias": "hijack", "company_id": cast.company_a})
    assert refusal(taken) == (404, "10")

    # a CLIENT of the company reads it, without the forms that change it, and may not change it
    page = cast.client_a.get(f"{PAGE}/{collection_id}")
    assert page.status_code == 200 and "Eileen" in page.text
    assert "Add a person" not in page.text and "/delete" not in page.text
    assert refusal(cast.client_a.post(f"{PAGE}/{collection_id}/delete")) == (403, "9")
    assert refusal(cast.client_a.post(f"{PAGE}/{collection_id}/persons/{person_id}/delete")) == (403, "9")

    assert persons_of(cast.server, collection_id) == 1 and stored_files(cast.server) == files_before
    assert collection_id in COLLECTION_LINK.findall(cast.admin_a.get(PAGE).text)


def test_a_form_without_its_csrf_token_changes_nothing(cast: Cast) -> None:
    collection_id = create(cast.admin_a, "Guarded")
    files_before = stored_files(cast.server)
    visitor = cast.admin_a
    refused = [
        visitor.post(PAGE, {"alias": "forged"}, csrf=False),
        visitor.post(f"{PAGE}/{collection_id}/delete", csrf=False),
        visitor.client.post(f"{PAGE}/{collection_id}/persons", files={"photo": ("p.jpg", ASTRONAUT, "image/jpeg")}),
    ]
    assert [refusal(r) for r in refused] == [(403, "130")] * 3
    listed = visitor.get(PAGE).text
    assert "forged" not in listed and collection_id in COLLECTION_LINK.findall(listed)
    assert persons_of(cast.server, collection_id) == 0 and stored_files(cast.server) == files_before

    anonymous = ConsoleVisitor(cast.server.base_url)
    assert anonymous.get(PAGE).headers["location"] == "/console/login"
    assert anonymous.get(f"{PAGE}/{collection_id}").headers["location"] == "/console/login"
    anonymous.close()


def test_a_photo_without_a_face_is_refused_on_the_page_and_leaves_nothing(cast: Cast) -> None:
    collection_id = create(cast.admin_a, "Faces only")
    files_before = stored_files(cast.server)
    refused = add_person(cast.admin_a, collection_id, BLANK, first_name="Nobody")
    assert refusal(refused) == (422, "140")
    assert re.search(r'role="alert" id="person-error">photo: no face big enough to search for', refused.text)
    assert 'value="Nobody"' in refused.text  # the form comes back as it was sent
    no_photo = cast.admin_a.post(f"{PAGE}/{collection_id}/persons", {"first_name": "Nobody"})
    assert refusal(no_photo) == (400, "100") and "send at least one photo" in no_photo.text
    assert persons_of(cast.server, collection_id) == 0
    assert stored_files(cast.server) == files_before
    assert list((cast.server.services.files.spool_dir).glob("*")) == []
