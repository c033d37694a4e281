"""The committed OpenAPI document (`openapi.json`) is the app's, and it is a contract a client can be built on."""

import copy
import difflib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from app.api.errors import PROBLEM_CONTENT_TYPE
from app.cli import openapi_document
from app.main import create_app
from harness.api import make_settings

COMMITTED = Path(__file__).resolve().parents[2] / "openapi.json"
REGENERATE = "run `uv run poe openapi` and `uv run poe client`, then commit openapi.json and clients/typescript"
MAX_DIFF_LINES = 40
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _flatten(node: Any, path: str = "") -> list[str]:
    """One `path = value` line per leaf, e.g. `paths["/api/v1/tasks"].get.responses["200"].description = "OK"`."""
    if isinstance(node, dict) and node:
        lines = []
        for key, value in node.items():
            step = (f".{key}" if path else key) if _IDENTIFIER.match(key) else f"[{json.dumps(key)}]"
            lines.extend(_flatten(value, path + step))
        return lines
    if isinstance(node, list) and node:
        return [line for index, value in enumerate(node) for line in _flatten(value, f"{path}[{index}]")]
    return [f"{path} = {json.dumps(node)}"]


def document_difference(committed: dict[str, Any], current: dict[str, Any]) -> str:
    """A short unified diff of the two documents' JSON paths; empty when they are equal."""
    if committed == current:
        return ""
    diff = difflib.unified_diff(
        _flatten(committed), _flatten(current), "openapi.json (committed)", "the app (current)", n=0, lineterm=""
    )
    lines = [line for line in diff if not line.startswith("@@")]  # positions in a flattened list mean nothing
    more = f"\n... and more ({len(lines) - 2} changed paths in all)" if len(lines) > MAX_DIFF_LINES else ""
    return "\n".join(lines[:MAX_DIFF_LINES]) + more


def test_committed_document_matches_the_app() -> None:
    if not COMMITTED.exists():
        pytest.fail(f"openapi.json is missing: {REGENERATE}", pytrace=False)
    written = openapi_document()
    difference = document_difference(json.loads(COMMITTED.read_text()), json.loads(written))
    if difference:
        pytest.fail(f"openapi.json no longer matches the app: {REGENERATE}.\n{difference}", pytrace=False)
    if COMMITTED.read_text() != written:
        pytest.fail(f"openapi.json is not formatted as `bosun openapi` writes it: {REGENERATE}", pytrace=False)


def test_the_document_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = openapi_document()
    monkeypatch.setenv("PROJECT_NAME", "Somebody's Bosun")
    monkeypatch.setenv("AUTH_MODE", "jwks")
    monkeypatch.setenv("CORS_ORIGINS", '["http://localhost:5173"]')
    assert openapi_document() == expected


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(openapi_document())
    return loaded


def test_a_changed_response_model_is_named_in_the_difference(document: dict[str, Any]) -> None:
    changed = copy.deepcopy(document)
    task = changed["components"]["schemas"]["TaskPublic"]
    task["properties"]["title"]["maxLength"] = 1
    del task["properties"]["priority"]
    difference = document_difference(document, changed)
    assert "+components.schemas.TaskPublic.properties.title.maxLength = 1" in difference
    assert '-components.schemas.TaskPublic.properties.priority["$ref"] = ' in difference
    assert difference.startswith("--- openapi.json (committed)\n+++ the app (current)")
    assert document_difference(document, copy.deepcopy(document)) == ""


def test_a_large_difference_is_cut_short(document: dict[str, Any]) -> None:
    changed = copy.deepcopy(document)
    changed["paths"] = {}
    difference = document_difference(document, changed)
    assert len(difference.splitlines()) == MAX_DIFF_LINES + 1
    assert re.search(r"\.\.\. and more \(\d+ changed paths in all\)$", difference)


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_operation_is_described_for_a_client(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        where = f"{method} {path}"
        tag = operation["tags"][0]
        assert re.fullmatch(rf"{tag}-[a-z]+(_[a-z]+)*", operation["operationId"]), where
        assert operation["summary"], where
        assert operation["description"], where
        assert "security" in operation, f"{where} does not say whether it needs a token"
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {
                    PROBLEM_CONTENT_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}
                }, where


def test_implied_errors_are_documented(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        responses = operation["responses"].keys()
        parameters = operation.get("parameters", [])
        where = f"{method} {path}"
        if operation["security"]:
            assert "401" in responses, where
        if "{" in path:
            assert "404" in responses, where
        if parameters or "requestBody" in operation:
            assert "422" in responses, where
        if any(parameter["name"] == "if-match" for parameter in parameters):
            assert "412" in responses, where
    public = {path for _, path, operation in _operations(document) if operation["security"] == []}
    assert public == {"/api/v1/auth/signup", "/api/v1/auth/token"}


def test_versioned_resources_document_their_etag(document: dict[str, Any]) -> None:
    read = document["paths"]["/api/v1/tasks/{task_id}"]["get"]["responses"]["200"]
    assert "ETag" in read["headers"]
    assert "headers" not in document["paths"]["/api/v1/projects/{project_id}/tasks"]["get"]["responses"]["200"]


def test_form_bodies_have_client_friendly_names(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert not [name for name in schemas if name.startswith("Body_")]
    body = document["paths"]["/api/v1/auth/token"]["post"]["requestBody"]["content"]
    assert body["application/x-www-form-urlencoded"]["schema"] == {"$ref": "#/components/schemas/AuthLoginForm"}
    assert schemas["AuthLoginForm"]["title"] == "AuthLoginForm"


def test_responses_carry_every_field() -> None:
    """What makes every field of a response-only schema required in the document (see app/api/openapi.py)."""
    app = create_app(make_settings("postgresql://unused@localhost/unused"))
    for route in app.routes:
        if isinstance(route, APIRoute):
            excluded = (
                route.response_model_exclude_unset,
                route.response_model_exclude_defaults,
                route.response_model_exclude_none,
            )
            assert not any(excluded), f"{route.path} leaves fields out of its responses"
