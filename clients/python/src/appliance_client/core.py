"""What the sync and the async client share, free of I/O: building a request from its route,
reading an answer into a Struct or an `ApiError`, and when to send a request again."""

from __future__ import annotations

import contextlib
import email.utils
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import msgspec

from .errors import ApiError
from .models import AnalysisIn, ErrorBody, FolderPayload
from .routes import Route
from .uploads import MultipartBody, ProgressCallback, Upload

__all__ = ["TOKEN_HEADER", "RetryPolicy", "build_request", "decode", "folder_upload"]

T = TypeVar("T")

TOKEN_HEADER = "X-Forensic-Access-Token"


@dataclass(frozen=True)
class RetryPolicy:
    """Send a request again when the API answers 429 (rate limited) or 503 (queue full, a service
    down): after its `Retry-After`, else after `backoff * 2**attempt` seconds, never longer than
    `max_delay`, at most `attempts` times in all."""

    attempts: int = 4
    backoff: float = 0.5
    max_delay: float = 30.0
    statuses: frozenset[int] = frozenset({429, 503})

    def delay(self, response: httpx.Response, attempt: int) -> float | None:
        """Seconds to wait before sending again after `response` to attempt `attempt` (0-based);
        None: do not send again."""
        if response.status_code not in self.statuses or attempt + 1 >= self.attempts:
            return None
        told = _retry_after(response.headers.get("Retry-After"))
        return min(self.max_delay, told if told is not None else self.backoff * 2**attempt)


DEFAULT_RETRY = RetryPolicy()


def _retry_after(value: str | None) -> float | None:
    """`Retry-After` in seconds: a number of seconds or an HTTP date."""
    if value is None:
        return None
    with contextlib.suppress(ValueError):  # not a number of seconds: an HTTP date, below
        return max(0.0, float(value))
    try:
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


_ENCODER = msgspec.json.Encoder()


def build_request(
    http: httpx.Client | httpx.AsyncClient,
    route: Route,
    *,
    path: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    body: msgspec.Struct | None = None,
    stream: MultipartBody | None = None,
) -> httpx.Request:
    """The request of `route`, with its path parameters, query, and JSON body or multipart stream."""
    if query and not set(query) <= set(route.query):
        raise ValueError(
            f"{route.method} {route.path} takes no query parameter {sorted(set(query) - set(route.query))}"
        )
    if not (isinstance(body, route.body) if route.body is not None else body is None):
        raise TypeError(f"{route.method} {route.path} takes a body of {route.body}, not {type(body)}")
    if (stream is not None) != route.multipart:
        raise TypeError(f"{route.method} {route.path} {'takes' if route.multipart else 'takes no'} multipart body")
    url = route.path.format_map(dict(path or {}))
    if stream is not None:
        # the client's address and headers, then the stream: httpx builds no body of its own for it
        request = http.build_request(route.method, url, params=query, headers=stream.headers)
        return httpx.Request(request.method, request.url, headers=request.headers, stream=stream)
    if body is not None:
        headers = {"Content-Type": "application/json"}
        return http.build_request(route.method, url, params=query, headers=headers, content=_ENCODER.encode(body))
    return http.build_request(route.method, url, params=query)


_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}
_DECODERS_MADE = threading.Lock()


def _decoder(kind: type[T]) -> msgspec.json.Decoder[T]:
    """One decoder per document type, made once under a lock: msgspec completes a Struct type's
    decoding information when it first meets the type, and threads meeting it at the same moment
    (a client shared by threads, or several clients) must not see it half made."""
    with _DECODERS_MADE:
        decoder = _DECODERS.get(kind)
        if decoder is None:
            decoder = _DECODERS[kind] = msgspec.json.Decoder(kind)
    return decoder


def decode(response: httpx.Response, kind: type[T]) -> T:
    """The answer's document as `kind`; an `ApiError` when the API refused."""
    if response.is_error:
        raise ApiError(response.status_code, _error_body(response))
    return _decoder(kind).decode(response.content)


def _error_body(response: httpx.Response) -> ErrorBody:
    try:
        return _decoder(ErrorBody).decode(response.content)
    except msgspec.DecodeError:
        # not the API's error document (a proxy in the way): the status and the text say what there is
        text = response.text[:500] or response.reason_phrase
        return ErrorBody(error_code=0, error_name="UNKNOWN", error_message=text, details=None)


def folder_upload(
    media: Sequence[Upload],
    *,
    analyses: Sequence[AnalysisIn | str] | None,
    folder_meta_data: dict[str, Any] | None,
    resolution_endpoint: str | None,
    on_progress: ProgressCallback | None,
) -> MultipartBody:
    """The multipart body of a folder upload: each media as `media0`, `media1`..., and its `payload`."""
    keyed = [(f"media{i}", upload) for i, upload in enumerate(media)]
    payload = FolderPayload(
        media_tags={key: upload.tags for key, upload in keyed},
        media_meta_data={key: upload.meta_data for key, upload in keyed if upload.meta_data},
        folder_meta_data=folder_meta_data or {},
        analyses=None if analyses is None else [as_analysis(a) for a in analyses],
        resolution_endpoint=resolution_endpoint,
    )
    return MultipartBody(keyed, _ENCODER.encode(payload), on_progress)


def as_analysis(analysis: AnalysisIn | str) -> AnalysisIn:
    return AnalysisIn(type=analysis) if isinstance(analysis, str) else analysis
