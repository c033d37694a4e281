"""What clients see matches what the API does: If-Match forms, Allow on 405, body errors, and team filters."""

import re

import httpx
import pytest

from harness.api import Actor, assert_problem, create_project, create_task, create_team

JSON = {"Content-Type": "application/json"}


async def test_if_match_accepts_a_bare_version_and_explains_garbage(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    url = f"/api/v1/projects/{project['id']}"
    # The body's "version": 1 invites `If-Match: 1`: it names version 1.
    bare = await client.patch(url, json={"name": "One"}, headers={**alice.headers, "If-Match": "1"})
    assert bare.status_code == 200, bare.text
    stale = await client.patch(url, json={"name": "Two"}, headers={**alice.headers, "If-Match": "1"})
    assert_problem(stale, 412, "changed")
    for garbage in ("abc", "null", '"2', "1; 2"):
        response = await client.patch(url, json={"name": "Three"}, headers={**alice.headers, "If-Match": garbage})
        assert_problem(response, 400, 'quoted etag such as "2"')


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/tasks/{task}", "DELETE, GET, PATCH"),
        ("OPTIONS", "/api/v1/teams", "GET, POST"),
        ("PUT", "/api/v1/projects/{project}/tasks", "GET, POST"),
        ("DELETE", "/api/v1/users/me", "GET, PATCH"),
    ],
)
async def test_405_lists_every_method_of_the_path(
    client: httpx.AsyncClient, alice: Actor, method: str, path: str, allowed: str
) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    task = await create_task(client, alice, project["id"])
    url = path.format(task=task["id"], project=project["id"])
    response = await client.request(method, url, headers=alice.headers)
    assert_problem(response, 405)
    assert response.headers["allow"] == allowed


async def test_body_errors_are_clear(client: httpx.AsyncClient, alice: Actor) -> None:
    not_utf8 = await client.post(
        "/api/v1/teams", content=b'{"name": "\xc3\x28"}', headers={**alice.headers, "Content-Type": "application/json"}
    )
    body = assert_problem(not_utf8, 422, "not valid json")
    assert body["errors"][0]["loc"] == ["body"]
    broken = await client.post(
        "/api/v1/teams", content=b'{"name": ', headers={**alice.headers, "Content-Type": "application/json"}
    )
    body = assert_problem(broken, 422, "not valid json")
    assert body["errors"][0]["loc"] == ["body"]
    assert "position" in body["errors"][0]["msg"]
    plain = await client.post(
        "/api/v1/teams", content=b"name=x", headers={**alice.headers, "Content-Type": "text/plain"}
    )
    assert_problem(plain, 415, "application/json")
    spaces = await client.post("/api/v1/teams", json={"name": "   "}, headers=alice.headers)
    assert_problem(spaces, 422, "name")
    trimmed = await client.post("/api/v1/teams", json={"name": "  Ops  "}, headers=alice.headers)
    assert trimmed.json()["name"] == "Ops"


@pytest.mark.parametrize(
    ("content", "content_type", "detail"),
    [
        (b"x", "multipart/form-data", "Missing boundary in multipart."),
        (b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b", '"name"'),
        (b"a=1&" * 1001 + b"username=u@example.com&password=x", "application/x-www-form-urlencoded", "Too many fields"),
    ],
)
async def test_an_unreadable_login_form_is_422(
    client: httpx.AsyncClient, content: bytes, content_type: str, detail: str
) -> None:
    """Like any body that cannot be parsed: a 422 naming the body, as the document says, never an undocumented 400."""
    response = await client.post("/api/v1/auth/token", content=content, headers={"Content-Type": content_type})
    body = assert_problem(response, 422, detail)
    assert body["errors"][0]["loc"] == ["body"]


async def test_messages_say_what_is_wrong_once(client: httpx.AsyncClient, alice: Actor) -> None:
    nul = await client.post("/api/v1/teams", content=b'{"name": "a\x00"}', headers={**alice.headers, **JSON})
    body = assert_problem(nul, 422, "not valid json")
    assert body["errors"][0]["msg"] == "The body is not valid JSON: Invalid control character at position 11."
    long_form = await client.post("/api/v1/auth/token", data={"username": "u" * 321, "password": "whatever-pw"})
    body = assert_problem(long_form, 422, "body.username: String should have at most 320 characters.")
    assert body["errors"][0]["type"] == "string_too_long"
    long_json = await client.post("/api/v1/teams", json={"name": "n" * 201}, headers=alice.headers)
    assert_problem(long_json, 422, "body.name: String should have at most 200 characters.")


async def test_project_list_of_a_team_you_are_not_in_is_404(
    client: httpx.AsyncClient, alice: Actor, carol: Actor
) -> None:
    team = await create_team(client, alice)
    await create_project(client, alice, team["id"])
    assert_problem(await client.get(f"/api/v1/projects?team_id={team['id']}", headers=carol.headers), 404)
    mine = await client.get(f"/api/v1/projects?team_id={team['id']}", headers=alice.headers)
    assert mine.json()["total"] == 1


async def test_patch_schemas_say_null_is_refused(client: httpx.AsyncClient) -> None:
    schemas = (await client.get("/api/v1/openapi.json")).json()["components"]["schemas"]
    fields = [
        ("TaskUpdate", "status"),
        ("TaskUpdate", "priority"),
        ("TaskUpdate", "title"),
        ("ProjectUpdate", "name"),
        ("UserUpdate", "email"),
    ]
    for schema, field in fields:
        text = str(schemas[schema]["properties"][field])
        assert "'null'" not in text, (schema, field, text)


INVISIBLE_NAMES = ["\u200b", "\ufeff", " \u200b\u200e ", "\u2060\u00ad", "\x01", "\U000e0001", "\u3000"]
VISIBLE_NAMES = ["Ops", "\u200bOps", "é", "\u3164x", "\U0001f6a2"]


@pytest.mark.parametrize("name", INVISIBLE_NAMES)
async def test_names_of_only_invisible_characters_are_422(client: httpx.AsyncClient, alice: Actor, name: str) -> None:
    response = await client.post("/api/v1/teams", json={"name": name}, headers=alice.headers)
    body = assert_problem(response, 422, "visible character")
    assert body["errors"][0]["loc"] == ["body", "name"]


async def test_name_pattern_in_the_document_agrees_with_the_api(client: httpx.AsyncClient, alice: Actor) -> None:
    schemas = (await client.get("/api/v1/openapi.json")).json()["components"]["schemas"]
    pattern = re.compile(schemas["TeamCreate"]["properties"]["name"]["pattern"])
    assert not any(pattern.search(name) for name in INVISIBLE_NAMES)
    for name in VISIBLE_NAMES:
        assert pattern.search(name), name
        created = await client.post("/api/v1/teams", json={"name": name}, headers=alice.headers)
        assert created.status_code == 201, created.text


async def test_null_email_in_a_profile_patch_is_422(client: httpx.AsyncClient, alice: Actor) -> None:
    refused = await client.patch("/api/v1/users/me", json={"email": None}, headers=alice.headers)
    assert_problem(refused, 422, "body.email")
    omitted = await client.patch("/api/v1/users/me", json={"full_name": "Alice B."}, headers=alice.headers)
    assert omitted.json()["email"] == alice.email
    changed = await client.patch("/api/v1/users/me", json={"email": "Alice.B@Example.com"}, headers=alice.headers)
    assert changed.json()["email"] == "alice.b@example.com"
