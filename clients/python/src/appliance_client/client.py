"""`Client`: the API over a blocking httpx client."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any, Self, TypeVar

import httpx

from . import routes
from .core import DEFAULT_RETRY, TOKEN_HEADER, RetryPolicy, as_analysis, build_request, decode, folder_upload
from .errors import PollTimeout
from .models import (
    AnalysesIn,
    Analysis,
    AnalysisIn,
    CaptureSession,
    CaptureSessionIn,
    Credentials,
    Folder,
    LoginIn,
    Tokens,
    Version,
)
from .uploads import ProgressCallback, Upload

__all__ = ["Client"]

T = TypeVar("T")


class Client:
    """The appliance's API at `base_url`. `timeout` bounds each request: give a single request
    (`create_folder` with `analyses`) more than the appliance's `api.single_request_timeout_seconds`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {TOKEN_HEADER: token} if token else {}
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout, transport=transport)
        self._retry = retry

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, request: Callable[[], httpx.Request], kind: type[T]) -> T:
        """`request()` sent, and sent again (built anew) while the retry policy says so."""
        attempt = 0
        while True:
            response = self._http.send(request())
            delay = self._retry.delay(response, attempt)
            if delay is None:
                return decode(response, kind)
            response.close()
            time.sleep(delay)
            attempt += 1

    def login(self, email: str, password: str) -> Tokens:
        """Log in; the client sends the access token on every call after."""
        body = LoginIn(credentials=Credentials(email=email, password=password))
        tokens = self._call(lambda: build_request(self._http, routes.LOGIN, body=body), Tokens)
        self._http.headers[TOKEN_HEADER] = tokens.access_token
        return tokens

    def version(self) -> Version:
        return self._call(lambda: build_request(self._http, routes.VERSION), Version)

    def create_folder(
        self,
        media: Sequence[Upload],
        *,
        analyses: Sequence[AnalysisIn | str] | None = None,
        folder_meta_data: dict[str, Any] | None = None,
        resolution_endpoint: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Folder:
        """A new folder with `media`; with `analyses`, the answer comes when the folder is final (or
        after the appliance's single-request timeout, as it is then)."""
        stream = folder_upload(
            media,
            analyses=analyses,
            folder_meta_data=folder_meta_data,
            resolution_endpoint=resolution_endpoint,
            on_progress=on_progress,
        )
        return self._call(lambda: build_request(self._http, routes.CREATE_FOLDER, stream=stream), Folder)

    def add_analyses(
        self, folder_id: str, analyses: Sequence[AnalysisIn | str], *, resolution_endpoint: str | None = None
    ) -> list[Analysis]:
        body = AnalysesIn(analyses=[as_analysis(a) for a in analyses], resolution_endpoint=resolution_endpoint)
        return self._call(
            lambda: build_request(self._http, routes.ADD_ANALYSES, path={"folder_id": folder_id}, body=body),
            list[Analysis],
        )

    def get_folder(self, folder_id: str, *, with_analyses: bool = True) -> Folder:
        query = {"with_analyses": "true" if with_analyses else "false"}
        return self._call(
            lambda: build_request(self._http, routes.GET_FOLDER, path={"folder_id": folder_id}, query=query), Folder
        )

    def wait_for_folder(self, folder_id: str, *, timeout: float = 120.0, interval: float = 0.5) -> Folder:
        """The folder with its analyses once FINISHED or FAILED; `PollTimeout` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (folder := self.get_folder(folder_id)).is_final:
            if time.monotonic() + interval > deadline:
                raise PollTimeout(folder_id, timeout)
            time.sleep(interval)
        return folder

    def open_capture_session(self, folder_id: str, analyses: Sequence[str] | None = None) -> CaptureSession:
        """A capture session on the folder: its gestures and the `capture_url` a person records on."""
        body = CaptureSessionIn(analyses=None if analyses is None else list(analyses))
        return self._call(
            lambda: build_request(self._http, routes.OPEN_CAPTURE_SESSION, path={"folder_id": folder_id}, body=body),
            CaptureSession,
        )
