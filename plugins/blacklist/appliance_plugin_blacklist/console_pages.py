"""The collections pages of the operator console (docs/collections.md, "In the console").

`/console/collections` lists the collections the user may see and creates one;
`/console/collections/{collection_id}` lists its persons with their photos, adds a person from a
photo and removes one. The rules are the API's (management.py): everyone of the company (and ADMIN
and OPERATOR) reads, ADMIN and the company's admin change. Photos are shown through
`.../photos/{person_image_id}`, which asks for the console session: URLs hold ids, never a
person's name or a photo's content.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from importlib.resources import files
from typing import Any

import anyio
from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import File, Redirect

from appliance.sdk import PluginServices
from appliance.sdk.console import (
    ConsoleForm,
    ConsolePage,
    CurrentVisit,
    PluginDependency,
    Visit,
    company_names,
    private_file,
    read_form,
    render,
    see_other,
    with_error,
)
from appliance.sdk.web import AppError, ErrorCode, User, can_administer_company_data, found
from appliance_plugin_blacklist import management
from appliance_plugin_blacklist.reenrolment import Reenrolment
from appliance_plugin_blacklist.repository import Collection, Person

__all__ = ["COLLECTIONS_PAGE"]

PAGE = "/console/collections"
PAGE_SIZE = 50
#: The person's name fields of the form, kept as `person_info` in the person's meta_data (Oz shape).
NAME_FIELDS = ("first_name", "last_name")
MAX_NAME_LENGTH = 255
#: Refusals of a form that the page shows beside the form; anything else is an error page.
_FORM_REFUSALS = (ErrorCode.INVALID_VALUE, ErrorCode.CONFLICT)


def _offset(value: int) -> int:
    return max(value, 0)


# The list of collections ---------------------------------------------------------------------------


def _list_page(
    visit: Visit,
    request: Request,
    plugin: PluginServices,
    user: User,
    offset: int,
    error: AppError | None = None,
    form: Mapping[str, str] | None = None,
) -> Response[Any]:
    rows = management.repository(plugin)
    collections, total = rows.list_collections(user.company_id, offset, PAGE_SIZE)  # None: every company's
    counts = rows.person_counts([c.collection_id for c in collections])
    companies = company_names(request, user)
    context = {
        "page": PAGE,
        "collections": [
            {
                "collection": c,
                "persons": counts[c.collection_id],
                "company": companies.get(c.company_id, c.company_id),
                "may_manage": can_administer_company_data(user, c.company_id),
            }
            for c in collections
        ],
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "show_company": user.company_id is None,
        # where the user may create collections: every company for ADMIN, their own for a company's admin
        "creatable": {id: name for id, name in companies.items() if can_administer_company_data(user, id)},
        "companies_exist": bool(companies),
        "error": error,
        "form": form or {},
    }
    return with_error(render(visit, "blacklist/collections.html", context), error)


@get(PAGE, sync_to_thread=True, summary="The collections the user may see")
def collection_list(
    visit: CurrentVisit, request: Request, plugin: PluginDependency, offset: FromQuery[int] = 0
) -> Response[Any]:
    return _list_page(visit, request, plugin, visit.signed_in(), _offset(offset))


@post(PAGE, sync_to_thread=True, summary="Create a collection")
def create_collection(
    visit: CurrentVisit, request: Request, plugin: PluginDependency, data: URLEncodedBody[dict[str, str]]
) -> Response[Any]:
    user = visit.signed_in()
    try:
        collection = management.create_collection(plugin, user, data.get("alias", ""), data.get("company_id"), {})
    except AppError as exc:
        if exc.code not in _FORM_REFUSALS:
            raise
        return _list_page(visit, request, plugin, user, 0, exc, data)
    return see_other(f"{PAGE}/{collection.collection_id}")


@post(f"{PAGE}/{{collection_id:str}}/delete", sync_to_thread=True, summary="Delete a collection")
def delete_collection(visit: CurrentVisit, plugin: PluginDependency, collection_id: FromPath[str]) -> Redirect:
    management.delete_collection(plugin, management.manageable(plugin, visit.signed_in(), collection_id))
    return see_other(PAGE)


# One collection and its persons --------------------------------------------------------------------


def _name(person: Person) -> str:
    info = person.meta_data.get("person_info")
    parts = [str(info.get(field, "")) for field in NAME_FIELDS] if isinstance(info, dict) else []
    return " ".join(part for part in parts if part)


def _collection_page(
    visit: Visit,
    request: Request,
    plugin: PluginServices,
    user: User,
    collection_id: str,
    offset: int,
    error: AppError | None = None,
    form: Mapping[str, str] | None = None,
) -> Response[Any]:
    collection = management.readable(plugin, user, collection_id)
    rows = management.repository(plugin)
    persons, total = rows.list_persons(collection.collection_id, offset, PAGE_SIZE)
    images = rows.images_of([p.person_id for p in persons])
    context = {
        "page": PAGE,
        "collection": collection,
        "company": company_names(request, user, [collection.company_id]).get(collection.company_id, ""),
        "persons": [{"person": p, "name": _name(p), "images": images[p.person_id]} for p in persons],
        "embedding": plugin.active_embedding(),
        "photos": next(iter(Reenrolment().progress(plugin, collection.collection_id)), None),
        "total": total,
        "offset": offset,
        "page_size": PAGE_SIZE,
        "may_manage": can_administer_company_data(user, collection.company_id),
        "name_fields": NAME_FIELDS,
        "max_name": MAX_NAME_LENGTH,
        "error": error,
        "form": form or {},
    }
    return with_error(render(visit, "blacklist/collection.html", context), error)


@get(f"{PAGE}/{{collection_id:str}}", sync_to_thread=True, summary="A collection's persons with their photos")
def collection_page(
    visit: CurrentVisit,
    request: Request,
    plugin: PluginDependency,
    collection_id: FromPath[str],
    offset: FromQuery[int] = 0,
) -> Response[Any]:
    return _collection_page(visit, request, plugin, visit.signed_in(), collection_id, _offset(offset))


def _person_meta(fields: Mapping[str, str]) -> dict[str, Any]:
    names = {field: fields.get(field, "").strip() for field in NAME_FIELDS}
    if any(len(value) > MAX_NAME_LENGTH for value in names.values()):
        raise AppError(ErrorCode.INVALID_VALUE, f"a name is at most {MAX_NAME_LENGTH} characters")
    info = {field: value for field, value in names.items() if value}
    return {"person_info": info} if info else {}


def _enrol(plugin: PluginServices, collection: Collection, form: ConsoleForm) -> None:
    management.enrol_person(plugin, collection, form.files, {}, _person_meta(form.fields))


@post(f"{PAGE}/{{collection_id:str}}/persons", summary="Add a person from a photo (multipart form)")
async def add_person(
    visit: CurrentVisit, request: Request, plugin: PluginDependency, collection_id: FromPath[str]
) -> Response[Any]:
    user = visit.signed_in()
    collection = await anyio.to_thread.run_sync(management.manageable, plugin, user, collection_id)
    fields: Mapping[str, str] = {}
    try:
        form = await read_form(request, plugin)
        fields = form.fields
        try:
            await anyio.to_thread.run_sync(_enrol, plugin, collection, form)
        finally:
            form.close()
    except AppError as exc:
        # what the form sent was refused (too many files, no photo, not a photo, no face or several):
        # nothing was written (enrolment.py), and the page says why beside the form
        page = partial(_collection_page, visit, request, plugin, user, collection_id, 0, exc, fields)
        return await anyio.to_thread.run_sync(page)
    return see_other(f"{PAGE}/{collection_id}")


@post(f"{PAGE}/{{collection_id:str}}/persons/{{person_id:str}}/delete", sync_to_thread=True, summary="Remove a person")
def delete_person(
    visit: CurrentVisit, plugin: PluginDependency, collection_id: FromPath[str], person_id: FromPath[str]
) -> Redirect:
    collection = management.manageable(plugin, visit.signed_in(), collection_id)
    management.delete_person(plugin, collection, management.person_of(plugin, collection, person_id))
    return see_other(f"{PAGE}/{collection_id}")


@get(
    f"{PAGE}/{{collection_id:str}}/persons/{{person_id:str}}/photos/{{person_image_id:str}}",
    sync_to_thread=True,
    summary="A person's photo, for the signed-in user",
)
def person_photo(
    visit: CurrentVisit,
    plugin: PluginDependency,
    collection_id: FromPath[str],
    person_id: FromPath[str],
    person_image_id: FromPath[str],
) -> File:
    collection = management.readable(plugin, visit.signed_in(), collection_id)
    image = found(
        management.repository(plugin).get_image(person_id, person_image_id),
        lambda i: i.collection_id == collection.collection_id,
        "photo",
    )
    return private_file(plugin.files.path(image.file.sha256, image.file.extension), image.mime_type)


COLLECTIONS_PAGE = ConsolePage(
    title="Collections",
    path=PAGE,
    handlers=[
        collection_list,
        create_collection,
        delete_collection,
        collection_page,
        add_person,
        delete_person,
        person_photo,
    ],
    templates=files("appliance_plugin_blacklist") / "templates",
)
