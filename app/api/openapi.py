"""The OpenAPI document: the contract the TypeScript client is generated from.

Errors are described as what they are (RFC 9457 problem+json), and the responses every operation can give are
derived here in one place from what the operation is: a secured one can answer 401, one with a path parameter
404, one taking `If-Match` 400 and 412, one taking input 422, one with a body 413 (and 415 for a JSON body).
Routes only declare the errors of their business rules (403, 409, ...). Public operations say so
(`security: []`), so a generated client knows not to send a token.
A response body carries every field of its model, so the fields of schemas only responses use are required: a
client reads `task.status` as a `TaskStatus`, not as something that may be missing.
"""

import re
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.errors import PROBLEM_CONTENT_TYPE

_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_422_REF = "#/components/schemas/HTTPValidationError"
_SCHEMAS_REF = "#/components/schemas/"
_HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _problem_response(status: int) -> dict[str, Any]:
    return {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _PROBLEM_REF}}},
    }


def _problem_content(response: dict[str, Any]) -> None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if schema.get("$ref") == _FASTAPI_422_REF:
        response.update(_problem_response(422))  # FastAPI's own 422, described like every other problem
    elif schema.get("$ref") == _PROBLEM_REF:
        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _PROBLEM_REF}}}


def implied_errors(operation: dict[str, Any]) -> set[int]:
    """The error statuses any operation of this shape can answer, whatever its business rules."""
    parameters = operation.get("parameters", [])
    statuses = set()
    if operation.get("security"):
        statuses.add(401)
    if any(parameter["in"] == "path" for parameter in parameters):
        statuses.add(404)
    if any(parameter["in"] == "header" and parameter["name"].lower() == "if-match" for parameter in parameters):
        statuses |= {400, 412}  # 400: an If-Match that is no entity tag
    if parameters or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(413)  # MAX_REQUEST_BODY_BYTES
        if "application/json" in operation["requestBody"].get("content", {}):
            statuses.add(415)
    return statuses


def _versioned_schemas(schemas: dict[str, Any]) -> set[str]:
    return {name for name, schema in schemas.items() if "version" in schema.get("properties", {})}


def _document_operation(operation: dict[str, Any], versioned: set[str]) -> None:
    operation.setdefault("security", [])
    responses: dict[str, Any] = operation["responses"]
    for error in implied_errors(operation):
        responses.setdefault(str(error), _problem_response(error))
    for status, response in responses.items():
        _problem_content(response)
        ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
        if status.startswith("2") and ref.removeprefix(_SCHEMAS_REF) in versioned:
            response["headers"] = {
                "ETag": {
                    "description": "The resource's version; send it back as If-Match to change or delete it.",
                    "schema": {"type": "string"},
                }
            }
    operation["responses"] = dict(sorted(responses.items()))


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].removeprefix(_SCHEMAS_REF)} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(value) for value in node))
    return set()


def _reachable(roots: set[str], schemas: dict[str, Any]) -> set[str]:
    seen: set[str] = set()
    pending = set(roots)
    while pending:
        name = pending.pop()
        if name in seen or name not in schemas:
            continue
        seen.add(name)
        pending |= _refs(schemas[name])
    return seen


def _require_response_fields(document: dict[str, Any]) -> None:
    """Mark every property required in schemas that only successful responses use.

    Routes serialize their response_model in full (no response_model_exclude_*), so those properties are always
    present. Schemas also used for input, or by problem responses (built with exclude_none), are left alone.
    """
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    success: set[str] = set()
    other: set[str] = set()
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                (success if status.startswith("2") else other).update(_refs(response))
            other |= _refs(operation.get("parameters", [])) | _refs(operation.get("requestBody", {}))
    for name in _reachable(success, schemas) - _reachable(other, schemas):
        properties = schemas[name].get("properties")
        if properties:
            schemas[name]["required"] = list(properties)


def _rename_form_bodies(document: dict[str, Any]) -> None:
    """FastAPI names form bodies `Body_<operation id>`; a client deserves `<OperationId>Form` (`AuthLoginForm`)."""
    schemas: dict[str, Any] = document.get("components", {}).get("schemas", {})
    renames = {
        name: "".join(part.capitalize() for part in re.split(r"[-_]", name.removeprefix("Body_"))) + "Form"
        for name in schemas
        if name.startswith("Body_")
    }
    for old, new in renames.items():
        schemas[new] = schemas.pop(old)
        schemas[new]["title"] = new
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for content in operation.get("requestBody", {}).get("content", {}).values():
                ref = content.get("schema", {}).get("$ref", "")
                if ref.removeprefix(_SCHEMAS_REF) in renames:
                    content["schema"]["$ref"] = _SCHEMAS_REF + renames[ref.removeprefix(_SCHEMAS_REF)]


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """Generate (once) the document; error responses point at the Problem schema under problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    schemas = document.get("components", {}).get("schemas", {})
    # FastAPI's default 422 shapes are replaced by Problem everywhere below.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    versioned = _versioned_schemas(schemas)
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            if method in _HTTP_METHODS:
                _document_operation(operation, versioned)
    _require_response_fields(document)
    _rename_form_bodies(document)
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve build_openapi's document at app.openapi_url."""

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
