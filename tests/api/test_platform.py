"""Cross-cutting behaviour: problem+json everywhere, request ids, query counts, CORS, OpenAPI."""

from typing import Any

import httpx
import pytest

from harness.api import Actor, AppFactory, assert_problem


async def test_unknown_route_and_wrong_method_are_problems(client: httpx.AsyncClient) -> None:
    assert_problem(await client.get("/api/v1/nope"), 404, "/api/v1/nope")
    assert_problem(await client.delete("/api/v1/auth/signup"), 405)


async def test_malformed_json_is_422(client: httpx.AsyncClient, alice: Actor) -> None:
    response = await client.post(
        "/api/v1/teams", content=b"{not json", headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert_problem(response, 422)


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces" + "x" * 200})
    assert len(generated.headers["x-request-id"]) == 32
    assert (await client.get("/api/v1/nope")).headers["x-request-id"]


async def test_query_count_header(client: httpx.AsyncClient, alice: Actor) -> None:
    response = await client.get("/api/v1/users/me", headers=alice.headers)
    assert response.headers["x-query-count"] == "1"
    assert (await client.get("/healthz")).headers["x-query-count"] == "0"


async def test_query_count_header_can_be_off(make_client: AppFactory) -> None:
    client = await make_client(EXPOSE_QUERY_COUNT=False)
    assert "x-query-count" not in (await client.get("/healthz")).headers


async def test_cors(make_client: AppFactory) -> None:
    client = await make_client(CORS_ORIGINS="https://app.example.com, http://localhost:5173")
    preflight = await client.options(
        "/api/v1/teams",
        headers={
            "Origin": "https://app.example.com",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "https://app.example.com"
    assert preflight.headers["access-control-allow-credentials"] == "true"
    simple = await client.get("/healthz", headers={"Origin": "http://localhost:5173"})
    assert simple.headers["access-control-allow-origin"] == "http://localhost:5173"
    assert "ETag" in simple.headers["access-control-expose-headers"]
    denied = await client.options(
        "/api/v1/teams", headers={"Origin": "https://evil.example.com", "Access-Control-Request-Method": "POST"}
    )
    assert denied.status_code == 400
    assert "access-control-allow-origin" not in denied.headers


async def test_no_cors_headers_without_origins(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers


async def test_unexpected_errors_are_problem_500(client: httpx.AsyncClient, alice: Actor) -> None:
    from app.api.deps import get_current_user
    from harness.api import app_of

    def broken() -> None:
        raise RuntimeError("boom: secret internals")

    app_of(client).dependency_overrides[get_current_user] = broken
    response = await client.get("/api/v1/users/me", headers=alice.headers)
    body = assert_problem(response, 500)
    assert "boom" not in body["detail"]
    assert response.headers["x-request-id"]


@pytest.fixture
async def openapi(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def test_every_operation_has_tag_and_operation_id(openapi: dict[str, Any]) -> None:
    ids = []
    for path, operations in openapi["paths"].items():
        assert path.startswith("/api/v1/"), path
        for method, operation in operations.items():
            assert operation.get("tags"), f"{method} {path} has no tag"
            assert operation.get("operationId"), f"{method} {path} has no operationId"
            ids.append(operation["operationId"])
    assert len(ids) == len(set(ids))
    assert "tasks-create_task" in ids


def test_operational_routes_are_not_documented(openapi: dict[str, Any]) -> None:
    assert "/healthz" not in openapi["paths"]
    assert "/readyz" not in openapi["paths"]


def _empty_schemas(node: Any, where: str) -> list[str]:
    """Places where a schema says nothing (`{}`), i.e. an `Any`."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{where}/{key}"
            if key in ("schema", "items", "additionalProperties") and value == {}:
                found.append(here)
            if key == "properties":
                found.extend(f"{here}/{name}" for name, schema in value.items() if schema == {})
            found.extend(_empty_schemas(value, here))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found.extend(_empty_schemas(value, f"{where}/{index}"))
    return found


def test_no_schema_is_empty(openapi: dict[str, Any]) -> None:
    assert _empty_schemas(openapi, "#") == []
    for path, operations in openapi["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for content in response.get("content", {}).values():
                    assert content.get("schema"), f"{method} {path} {status} has no schema"


def test_errors_are_documented_as_problems(openapi: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in openapi["components"]["schemas"]
    for operations in openapi["paths"].values():
        for operation in operations.values():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    assert list(response["content"]) == ["application/problem+json"]


def test_error_responses_are_documented(openapi: dict[str, Any]) -> None:
    operation = openapi["paths"]["/api/v1/tasks/{task_id}"]["patch"]
    assert {"401", "404", "412", "422"} <= operation["responses"].keys()
    assert openapi["paths"]["/api/v1/users/me"]["get"]["security"]
