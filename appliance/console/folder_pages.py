"""Folder pages: the list with its search form, one folder with its results, and the operator
decision on a folder that waits for one.

Media and output images are shown through the API's signed, expiring links (relative to this
origin), so an image URL names a media id and a signature, never anything about the person.
"""

from __future__ import annotations

from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath, URLEncodedBody

from appliance.console.filters import PAGE_SIZE, FolderSearch
from appliance.console.pages import render, see_other, with_error
from appliance.console.results import analysis_view, flatten
from appliance.console.session import CurrentVisit, Visit
from appliance.core import capture
from appliance.core.decisions import decide_folder, readable_folder
from appliance.core.providers import Services
from appliance.core.services import AppServices
from appliance.domain import policy
from appliance.domain.decisions import DECISIONS, MAX_COMMENT_LENGTH, awaiting_decision
from appliance.domain.entities import User
from appliance.domain.enums import FolderStatus, Resolution
from appliance.domain.errors import AppError, ErrorCode
from appliance.wire import UrlSigner, decision_to_wire, folder_to_wire

__all__ = ["decide", "folder_list", "folder_page", "search_folders"]


def console_urls(services: AppServices) -> UrlSigner:
    """Signed media links relative to the page's own origin (the Content-Security-Policy's 'self')."""
    settings = services.settings
    return UrlSigner(settings.secret_key, "", settings.api.media_url_ttl_seconds)


def _list_page(
    visit: Visit, services: AppServices, user: User, search: FolderSearch, error: AppError | None = None
) -> Response[Any]:
    store = services.store
    folders, total = ([], 0) if error else store.list_folders(search.folder_filter(user))
    ids = [f.folder_id for f in folders]
    media, analyses = store.list_media_of_folders(ids), store.list_analyses_of_folders(ids)
    companies = {}
    if policy.is_system_wide(user):
        company_ids = sorted({f.company_id for f in folders if f.company_id})
        companies = {c.company_id: c.name for c in store.list_companies(company_ids=company_ids, limit=PAGE_SIZE)[0]}
    rows = [
        {
            "folder": f,
            "media_count": len(media.get(f.folder_id, [])),
            "analyses": analyses.get(f.folder_id, []),
            "company": companies.get(f.company_id or "", ""),
            "meta": list(flatten(f.meta_data))[:4],
        }
        for f in folders
    ]
    context = {
        "page": "folders",
        "search": search,
        "rows": rows,
        "total": total,
        "page_size": PAGE_SIZE,
        "statuses": list(FolderStatus),
        "resolutions": list(Resolution),
        "show_company": policy.is_system_wide(user),
        "error": error,
    }
    return with_error(render(visit, "folders.html", context), error)


@get("/folders", sync_to_thread=True, summary="Folders, newest first")
def folder_list(visit: CurrentVisit, services: Services) -> Response[Any]:
    return _list_page(visit, services, visit.signed_in(), FolderSearch())


@post("/folders", status_code=200, sync_to_thread=True, summary="Folders matching the search form")
def search_folders(visit: CurrentVisit, services: Services, data: URLEncodedBody[dict[str, str]]) -> Response[Any]:
    user = visit.signed_in()
    try:
        search = FolderSearch.parse(data)
    except AppError as exc:
        return _list_page(visit, services, user, FolderSearch(), exc)
    return _list_page(visit, services, user, search)


def _folder_page(
    visit: Visit,
    services: AppServices,
    user: User,
    folder_id: str,
    error: AppError | None = None,
    form: dict[str, str] | None = None,
) -> Response[Any]:
    store = services.store
    folder = readable_folder(services, user, folder_id)
    media, analyses = store.list_media(folder_id), store.list_analyses(folder_id)
    doc = folder_to_wire(folder, media, analyses, console_urls(services))
    names = {m["media_id"]: m["original_name"] or m["media_id"][:8] for m in doc["media"]}
    owner = store.get_user(folder.user_id)
    company = store.get_company(folder.company_id) if folder.company_id else None
    context = {
        "page": "folders",
        "folder": doc,
        "meta": list(flatten(folder.meta_data)),
        "owner": owner.email if owner else folder.user_id,
        "company": company.name if company else "",
        "analyses": [analysis_view(a, names) for a in doc["analyses"]],
        "awaiting": bool(awaiting_decision(folder, analyses)),
        "may_decide": policy.can_decide_folder(user, folder),
        "may_capture": services.settings.capture.enabled and policy.can_write_folder(user, folder),
        "decisions": [decision_to_wire(d) for d in store.list_decisions(folder_id)],
        "choices": [r.value for r in DECISIONS],
        "max_comment": MAX_COMMENT_LENGTH,
        "error": error,
        "form": form or {},
    }
    return with_error(render(visit, "folder.html", context), error)


@get("/folders/{folder_id:str}", sync_to_thread=True, summary="One folder with its media, results and decisions")
def folder_page(visit: CurrentVisit, services: Services, folder_id: FromPath[str]) -> Response[Any]:
    return _folder_page(visit, services, visit.signed_in(), folder_id)


@post("/folders/{folder_id:str}/capture", sync_to_thread=True, summary="Open a capture session and go to its page")
def open_capture(visit: CurrentVisit, services: Services, folder_id: FromPath[str]) -> Response[Any]:
    """The teller's Capture action: a capture session for the folder, run on this screen at the counter."""
    _, token = capture.open_session(services, visit.signed_in(), folder_id)
    return see_other(f"/capture/{token}")


@post("/folders/{folder_id:str}/decision", sync_to_thread=True, summary="An operator's decision on the folder")
def decide(
    visit: CurrentVisit, services: Services, folder_id: FromPath[str], data: URLEncodedBody[dict[str, str]]
) -> Response[Any]:
    user = visit.signed_in()
    try:
        decide_folder(services, user, folder_id, data.get("resolution", ""), data.get("comment", ""))
    except AppError as exc:
        if exc.code not in (ErrorCode.INVALID_VALUE, ErrorCode.CONFLICT):
            raise
        return _folder_page(visit, services, user, folder_id, exc, data)
    return see_other(f"/console/folders/{folder_id}")
