"""The `meta_data` of an item, as the Oz API serves it at `<item>/meta_data`: GET reads it, POST
replaces it, PATCH merges into it (a null value removes a key), DELETE removes the given `keys` (or
everything).

The four routes are written once, in `MetaDataRoutes`; a resource's controller subclasses it with
its `path` and a `meta_data` dependency: a `MetaData`, which knows how to read and change that one
item, with the resource's own checks of who may do which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

from litestar import Controller, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, JSONBody, SkipValidation

from appliance.domain.errors import AppError, ErrorCode
from appliance.web.requests import split_csv

__all__ = ["CurrentMetaData", "HasMetaData", "MetaData", "MetaDataRoutes", "change_meta"]

Meta = dict[str, Any]


def change_meta(current: Meta, method: str, body: Any, keys: list[str] | None) -> Meta:
    """The Oz meta_data verbs: POST replaces, PATCH merges (a null value removes a key), DELETE
    removes the given `keys` or everything."""
    if method == "DELETE":
        return {k: v for k, v in current.items() if keys and k not in keys}
    if not isinstance(body, dict):
        raise AppError(ErrorCode.INVALID_STRUCTURE, "meta_data must be a JSON object")
    if method == "POST":
        return dict(body)
    merged = {**current, **body}
    return {k: v for k, v in merged.items() if v is not None}


class HasMetaData(Protocol):
    @property
    def meta_data(self) -> Meta: ...


Item = TypeVar("Item", bound=HasMetaData)


@dataclass(frozen=True, slots=True)
class MetaData(Generic[Item]):
    """One item's meta_data, as the resource lends it: `readable()` is the item for a caller who may
    see it, `writable()` for one who may change it (each refuses as the resource does: NOT_EXIST,
    AUTH_FORBIDDEN), and `save(item, meta_data)` stores new meta_data and returns what is stored."""

    readable: Callable[[], Item]
    writable: Callable[[], Item]
    save: Callable[[Item, Meta], Meta]

    def read(self) -> Meta:
        return self.readable().meta_data

    def update(self, change: Callable[[Meta], Meta]) -> Meta:
        """Store what `change` makes of the writable item's meta_data; what is stored."""
        item = self.writable()
        return self.save(item, change(item.meta_data))


#: How the routes ask for the item's meta_data: the controller's `meta_data` dependency.
CurrentMetaData: TypeAlias = NamedDependency[SkipValidation[MetaData[Any]]]


class MetaDataRoutes(Controller):
    """GET, POST, PATCH and DELETE of one item's meta_data. Subclass it with the `path` of the
    item's meta_data (`/api/folders/{folder_id:str}/meta_data`) and the dependency `meta_data`
    (`Provide` of a function that returns the item's `MetaData`, asking for the path's id)."""

    @get("/", sync_to_thread=True, summary="The meta_data")
    def read_meta(self, meta_data: CurrentMetaData) -> Meta:
        return meta_data.read()

    @post("/", status_code=200, sync_to_thread=True, summary="Replace meta_data")
    def replace_meta(self, meta_data: CurrentMetaData, data: JSONBody[Meta]) -> Meta:
        return meta_data.update(lambda current: change_meta(current, "POST", data, None))

    @patch("/", sync_to_thread=True, summary="Merge into meta_data (null removes a key)")
    def merge_meta(self, meta_data: CurrentMetaData, data: JSONBody[Meta]) -> Meta:
        return meta_data.update(lambda current: change_meta(current, "PATCH", data, None))

    @delete("/", status_code=200, sync_to_thread=True, summary="Remove meta_data keys (all without `keys`)")
    def delete_meta(self, meta_data: CurrentMetaData, keys: FromQuery[str | None] = None) -> Meta:
        names = split_csv(keys)
        return meta_data.update(lambda current: change_meta(current, "DELETE", None, names))
