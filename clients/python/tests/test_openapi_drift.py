"""The client against the API's served OpenAPI document (built in-process): every route it calls
exists with the parameters it sends, and every request body it sends matches the schema's."""

from __future__ import annotations

import json
import string
from typing import Any

import httpx
import msgspec
import pytest
from appliance.api.app import create_app
from appliance.api.schemas import FolderPayload as ServedFolderPayload
from appliance.ops.settings import Settings

from appliance_client import models, routes
from appliance_client.core import build_request
from appliance_client.models import CaptureSessionIn, FolderPayload

_BASIC = {
    msgspec.inspect.StrType: "string",
    msgspec.inspect.IntType: "integer",
    msgspec.inspect.FloatType: "number",
    msgspec.inspect.BoolType: "boolean",
    msgspec.inspect.ListType: "array",
    msgspec.inspect.DictType: "object",
    msgspec.inspect.StructType: "object",
    msgspec.inspect.EnumType: "string",
    msgspec.inspect.NoneType: "null",
}


@pytest.fixture(scope="module")
def openapi() -> dict[str, Any]:
    return create_app(Settings()).openapi_schema.to_schema()


def _basic_types(type_info: msgspec.inspect.Type) -> set[str]:
    """The JSON types a msgspec type allows; empty for Any."""
    if isinstance(type_info, msgspec.inspect.UnionType):
        return set().union(*(_basic_types(t) for t in type_info.types))
    if isinstance(type_info, msgspec.inspect.AnyType):
        return set()
    return {_BASIC[type(type_info)]}


def _schema_types(schema: dict[str, Any], components: dict[str, Any]) -> set[str]:
    """The JSON types an OpenAPI schema allows; empty for any."""
    if "$ref" in schema:
        return _schema_types(components[schema["$ref"].rsplit("/", 1)[1]], components)
    if "oneOf" in schema or "anyOf" in schema:
        return set().union(*(_schema_types(s, components) for s in schema.get("oneOf", schema.get("anyOf"))))
    if "enum" in schema and "type" not in schema:
        return {"string"}
    kind = schema.get("type")
    return set(kind) if isinstance(kind, list) else {kind} if kind else set()


def struct_drift(struct: type[msgspec.Struct], schema: dict[str, Any], components: dict[str, Any]) -> list[str]:
    """How the Struct and the schema differ: fields, required-ness, JSON types; nested objects too."""
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    properties, required = schema.get("properties", {}), set(schema.get("required", []))
    fields = {f.encode_name: f for f in info.fields}
    drift = [f"{struct.__name__}: the schema has no field {n}" for n in sorted(set(fields) - set(properties))]
    drift += [f"{struct.__name__}: the client lacks field {n}" for n in sorted(set(properties) - set(fields))]
    for name in sorted(set(fields) & set(properties)):
        field, served = fields[name], properties[name]
        if field.required != (name in required):
            drift.append(f"{struct.__name__}.{name}: required {field.required}, served {name in required}")
        ours, theirs = _basic_types(field.type), _schema_types(served, components)
        if ours != theirs:
            drift.append(f"{struct.__name__}.{name}: types {sorted(ours)}, served {sorted(theirs)}")
        nested = _struct_of(field.type)
        if nested is not None and "$ref" in _without_null(served):
            ref = _without_null(served)["$ref"].rsplit("/", 1)[1]
            drift += struct_drift(nested, components[ref], components)
    return drift


def _struct_of(type_info: msgspec.inspect.Type) -> type[msgspec.Struct] | None:
    if isinstance(type_info, msgspec.inspect.StructType):
        return type_info.cls
    if isinstance(type_info, msgspec.inspect.UnionType):
        return next((s for t in type_info.types if (s := _struct_of(t)) is not None), None)
    return None


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    options = [s for s in schema.get("oneOf", [schema]) if s.get("type") != "null"]
    return options[0] if len(options) == 1 else schema


def _operation(openapi: dict[str, Any], route: routes.Route) -> dict[str, Any]:
    operation = openapi["paths"].get(route.path, {}).get(route.method.lower())
    assert operation is not None, f"the served API has no {route.method} {route.path}"
    return operation


@pytest.mark.parametrize("route", routes.ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_every_route_the_client_calls_is_served_with_its_parameters(
    openapi: dict[str, Any], route: routes.Route
) -> None:
    operation = _operation(openapi, route)
    parameters = {(p["in"], p["name"]) for p in operation.get("parameters", [])}
    path_names = {name for _, name, _, _ in string.Formatter().parse(route.path) if name}
    assert {n for where, n in parameters if where == "path"} == path_names
    assert {("query", name) for name in route.query} <= parameters
    body = operation.get("requestBody", {}).get("content", {})
    if route.body is not None:
        components = openapi["components"]["schemas"]
        ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
        assert struct_drift(route.body, components[ref], components) == []
    else:
        # a multipart upload is read by the handler itself: the document declares no body for it
        assert body == {}, f"{route.method} {route.path} takes a body the client does not send"


#: The served document's schemas the client does not mirror: administration, not integration.
NOT_MIRRORED = {"CollectionIn", "CompanyIn", "CompanyPatch", "DecisionIn", "RefreshIn", "UserIn", "UserPatch"}
#: The client's name of a schema, where it is not the document's.
RENAMED = {"Error": "ErrorBody"}


def test_every_schema_of_the_document_is_mirrored_or_named_as_not(openapi: dict[str, Any]) -> None:
    """A schema the API adds fails here until the client mirrors it (or it is named above)."""
    components = openapi["components"]["schemas"]
    for name, schema in components.items():
        mirrored = getattr(models, RENAMED.get(name, name), None)
        if mirrored is None:
            assert name in NOT_MIRRORED, f"the client has no {name}"
        elif "enum" in schema:
            assert sorted(m.value for m in mirrored) == sorted(schema["enum"]), name
        else:
            assert struct_drift(mirrored, schema, components) == []
    assert NOT_MIRRORED <= set(components), "a schema named as not mirrored is gone: drop it from the list"


def test_the_folder_payload_matches_the_one_the_api_reads() -> None:
    """The multipart `payload` part has no schema in the document: the client's Struct is checked
    against the API's own."""
    served = msgspec.json.schema(ServedFolderPayload)
    components = served.pop("$defs", {})
    assert struct_drift(FolderPayload, components[served["$ref"].rsplit("/", 1)[1]], components) == []


def test_the_check_finds_drift(openapi: dict[str, Any]) -> None:
    """A Struct that lost a field, made one optional or changed its type is reported."""

    class AnalysisIn(msgspec.Struct, kw_only=True):
        type: int
        source_media: list[str] | None = None

    schema = openapi["components"]["schemas"]["AnalysisIn"]
    assert struct_drift(AnalysisIn, schema, openapi["components"]["schemas"]) == [
        "AnalysisIn: the client lacks field params",
        "AnalysisIn.type: types ['integer'], served ['string']",
    ]
    broken = routes.Route("GET", "/api/folders/{folder_id}/nothing")
    with pytest.raises(AssertionError, match="no GET /api/folders/{folder_id}/nothing"):
        _operation(openapi, broken)


def test_a_request_is_built_only_as_its_route_says() -> None:
    """The route table is what the client sends (and what is checked above): a query parameter, a
    body or a multipart stream the route does not declare is refused before anything is sent."""
    body = CaptureSessionIn(analyses=["QUALITY"])
    with httpx.Client(base_url="http://appliance.test") as http:
        request = build_request(http, routes.OPEN_CAPTURE_SESSION, path={"folder_id": "f1"}, body=body)
        assert (request.method, str(request.url)) == ("POST", "http://appliance.test/api/folders/f1/capture_sessions")
        assert json.loads(request.content) == {"analyses": ["QUALITY"]}
        with pytest.raises(ValueError, match="no query parameter"):
            build_request(http, routes.GET_FOLDER, path={"folder_id": "f1"}, query={"with_media": "true"})
        with pytest.raises(TypeError, match="takes a body"):
            build_request(http, routes.ADD_ANALYSES, path={"folder_id": "f1"}, body=body)
        with pytest.raises(TypeError, match="multipart"):
            build_request(http, routes.CREATE_FOLDER)
