"""`AsyncClient`: the API over an asyncio httpx client, method for method as `Client`."""

from __future__ import annotations

import asyncio
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

__all__ = ["AsyncClient"]

T = TypeVar("T")


class AsyncClient:
    """The appliance's API at `base_url`. `timeout` bounds each request: give a single request
    (`create_folder` with `analyses`) more than the appliance's `api.single_request_timeout_seconds`."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 60.0,
        retry: RetryPolicy = DEFAULT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        headers = {TOKEN_HEADER: token} if token else {}
        self._http = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout, transport=transport)
        self._retry = retry

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, request: Callable[[], httpx.Request], kind: type[T]) -> T:
        """`request()` sent, and sent again (built anew) while the retry policy says so."""
        attempt = 0
        while True:
            response = await self._http.send(request())
            delay = self._retry.delay(response, attempt)
            if delay is None:
                return decode(response, kind)
            await response.aclose()
            await asyncio.sleep(delay)
            attempt += 1

    async def login(self, email: str, password: str) -> Tokens:
        """Log in; the client sends the access token on every call after."""
        body = LoginIn(credentials=Credentials(email=email, password=password))
        tokens = await self._call(lambda: build_request(self._http, routes.LOGIN, body=body), Tokens)
        self._http.headers[TOKEN_HEADER] = tokens.access_token
        return tokens

    async def version(self) -> Version:
        return await self._call(lambda: build_request(self._http, routes.VERSION), Version)

    async def create_folder(
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
        return await self._call(lambda: build_request(self._http, routes.CREATE_FOLDER, stream=stream), Folder)

    async def add_analyses(
        self, folder_id: str, analyses: Sequence[AnalysisIn | str], *, resolution_endpoint: str | None = None
    ) -> list[Analysis]:
        body = AnalysesIn(analyses=[as_analysis(a) for a in analyses], resolution_endpoint=resolution_endpoint)
        return await self._call(
            lambda: build_request(self._http, routes.ADD_ANALYSES, path={"folder_id": folder_id}, body=body),
            list[Analysis],
        )

    async def get_folder(self, folder_id: str, *, with_analyses: bool = True) -> Folder:
        query = {"with_analyses": "true" if with_analyses else "false"}
        return await self._call(
            lambda: build_request(self._http, routes.GET_FOLDER, path={"folder_id": folder_id}, query=query), Folder
        )

    async def wait_for_folder(self, folder_id: str, *, timeout: float = 120.0, interval: float = 0.5) -> Folder:
        """The folder with its analyses once FINISHED or FAILED; `PollTimeout` after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not (folder := await self.get_folder(folder_id)).is_final:
            if time.monotonic() + interval > deadline:
                raise PollTimeout(folder_id, timeout)
            await asyncio.sleep(interval)
        return folder

    async def open_capture_session(self, folder_id: str, analyses: Sequence[str] | None = None) -> CaptureSession:
        """A capture session on the folder: its gestures and the `capture_url` a person records on."""
        body = CaptureSessionIn(analyses=None if analyses is None else list(analyses))
        return await self._call(
            lambda: build_request(self._http, routes.OPEN_CAPTURE_SESSION, path={"folder_id": folder_id}, body=body),
            CaptureSession,
        )
