"""The OpenAPI document, with errors described as what they are: RFC 9457 problem+json."""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.errors import PROBLEM_CONTENT_TYPE

_PROBLEM_REF = "#/components/schemas/Problem"
_FASTAPI_422_REF = "#/components/schemas/HTTPValidationError"


def _problem_content(response: dict[str, Any]) -> None:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    if schema.get("$ref") in (_PROBLEM_REF, _FASTAPI_422_REF):
        response["content"] = {PROBLEM_CONTENT_TYPE: {"schema": {"$ref": _PROBLEM_REF}}}


def build_openapi(app: FastAPI) -> dict[str, Any]:
    """Generate (once) the document; error responses point at the Problem schema under problem+json."""
    if app.openapi_schema:
        return app.openapi_schema
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                _problem_content(response)
    schemas = document.get("components", {}).get("schemas", {})
    # FastAPI's default 422 shapes are replaced by Problem everywhere above.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    app.openapi_schema = document
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve build_openapi's document at app.openapi_url."""

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]
