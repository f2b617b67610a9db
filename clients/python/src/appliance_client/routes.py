"""Every endpoint the client calls, in one table: the client builds each request from its route,
and its tests check each route against the API's served OpenAPI document."""

from __future__ import annotations

from typing import NamedTuple

import msgspec

from .models import AnalysesIn, CaptureSessionIn, LoginIn

__all__ = ["ROUTES", "Route"]


class Route(NamedTuple):
    method: str
    #: the path with `{name}` for each path parameter
    path: str
    #: the query parameters the client may send
    query: tuple[str, ...] = ()
    #: the JSON body's Struct; None: no JSON body
    body: type[msgspec.Struct] | None = None
    #: a multipart body (media files and a `payload` part)
    multipart: bool = False


LOGIN = Route("POST", "/api/authorize/auth", body=LoginIn)
VERSION = Route("GET", "/api/version")
CREATE_FOLDER = Route("POST", "/api/folders", multipart=True)
GET_FOLDER = Route("GET", "/api/folders/{folder_id}", query=("with_analyses",))
ADD_ANALYSES = Route("POST", "/api/folders/{folder_id}/analyses", body=AnalysesIn)
OPEN_CAPTURE_SESSION = Route("POST", "/api/folders/{folder_id}/capture_sessions", body=CaptureSessionIn)

ROUTES = (
    LOGIN,
    VERSION,
    CREATE_FOLDER,
    GET_FOLDER,
    ADD_ANALYSES,
    OPEN_CAPTURE_SESSION,
)
