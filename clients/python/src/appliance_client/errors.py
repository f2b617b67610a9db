"""The errors the client raises: `ApiError` for every answer the API refuses, with its body."""

from __future__ import annotations

from .models import ErrorBody

__all__ = ["ApiError", "PollTimeout"]


class ApiError(Exception):
    """The API answered 4xx or 5xx; `body` is its error document (docs/errors.md)."""

    def __init__(self, status_code: int, body: ErrorBody) -> None:
        super().__init__(f"{status_code} {body.error_name} ({body.error_code}): {body.error_message}")
        self.status_code = status_code
        self.body = body

    @property
    def code(self) -> int:
        return self.body.error_code

    @property
    def name(self) -> str:
        return self.body.error_name

    @property
    def message(self) -> str:
        return self.body.error_message


class PollTimeout(TimeoutError):
    """A folder was not final within the time given; `folder_id` names it."""

    def __init__(self, folder_id: str, timeout: float) -> None:
        super().__init__(f"folder {folder_id} is not final after {timeout} s")
        self.folder_id = folder_id
