"""Hostile input: NUL characters, huge offsets and bodies get a clear 4xx, never a 500, and nothing secret is logged."""

import logging
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest

from app.core.migrations import upgrade
from harness.api import (
    Actor,
    AppFactory,
    assert_problem,
    create_project,
    create_task,
    create_team,
    make_settings,
    started,
)
from harness.postgres import create_database, drop_database, libpq_url

NUL = "a\u0000b"


def _field_named(body: dict[str, object], field: str) -> None:
    errors = body.get("errors")
    assert isinstance(errors, list)
    assert any(error["loc"][-1] == field for error in errors), errors


async def test_nul_in_login_form_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/token",
        content=b"username=a%00b@example.com&password=whatever-pw",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    _field_named(assert_problem(response, 422), "username")


async def test_nul_in_signup_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/auth/signup", json={"email": "nul@example.com", "password": "long-enough-pw", "full_name": NUL}
    )
    _field_named(assert_problem(response, 422), "full_name")


async def test_nul_in_every_text_field_is_422(client: httpx.AsyncClient, alice: Actor) -> None:
    headers = alice.headers
    _field_named(assert_problem(await client.post("/api/v1/teams", json={"name": NUL}, headers=headers), 422), "name")
    _field_named(
        assert_problem(await client.patch("/api/v1/users/me", json={"full_name": NUL}, headers=headers), 422),
        "full_name",
    )
    team = await create_team(client, alice)
    created = await client.post(f"/api/v1/teams/{team['id']}/projects", json={"name": NUL}, headers=headers)
    _field_named(assert_problem(created, 422), "name")
    described = await client.post(
        f"/api/v1/teams/{team['id']}/projects", json={"name": "ok", "description": NUL}, headers=headers
    )
    _field_named(assert_problem(described, 422), "description")
    project = await create_project(client, alice, team["id"])
    patched = await client.patch(f"/api/v1/projects/{project['id']}", json={"name": NUL}, headers=headers)
    _field_named(assert_problem(patched, 422), "name")
    task_response = await client.post(f"/api/v1/projects/{project['id']}/tasks", json={"title": NUL}, headers=headers)
    _field_named(assert_problem(task_response, 422), "title")
    task = await create_task(client, alice, project["id"])
    changed = await client.patch(f"/api/v1/tasks/{task['id']}", json={"description": NUL}, headers=headers)
    _field_named(assert_problem(changed, 422), "description")


@pytest.mark.parametrize("path", ["/api/v1/teams", "/api/v1/projects", "/api/v1/users/me/tasks", "/api/v1/users"])
async def test_huge_offset_is_422(client: httpx.AsyncClient, make_user, path: str) -> None:
    admin = await make_user(superuser=True)
    response = await client.get(f"{path}?offset=9223372036854775808", headers=admin.headers)
    _field_named(assert_problem(response, 422), "offset")


async def test_huge_offset_on_project_tasks_is_422(client: httpx.AsyncClient, alice: Actor) -> None:
    team = await create_team(client, alice)
    project = await create_project(client, alice, team["id"])
    response = await client.get(
        f"/api/v1/projects/{project['id']}/tasks?offset=9223372036854775807", headers=alice.headers
    )
    _field_named(assert_problem(response, 422), "offset")


async def test_oversized_body_is_413_by_length_and_while_streaming(make_client: AppFactory) -> None:
    client = await make_client(MAX_REQUEST_BODY_BYTES=4096)
    big = b'{"email": "big@example.com", "password": "long-enough-pw", "full_name": "' + b"x" * 10_000 + b'"}'
    response = await client.post("/api/v1/auth/signup", content=big, headers={"Content-Type": "application/json"})
    assert_problem(response, 413, "4096 bytes")

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit holds while reading
        for _ in range(10):
            yield b"x" * 1000

    streamed = await client.post("/api/v1/auth/signup", content=chunks(), headers={"Content-Type": "application/json"})
    assert_problem(streamed, 413, "4096 bytes")
    small = await client.post("/api/v1/auth/signup", json={"email": "small@example.com", "password": "long-enough-pw"})
    assert small.status_code == 201, small.text


async def test_security_headers(client: httpx.AsyncClient, alice: Actor) -> None:
    me = await client.get("/api/v1/users/me", headers=alice.headers)
    assert me.headers["x-content-type-options"] == "nosniff"
    missing = await client.get("/api/v1/nothing-here")
    assert missing.headers["x-content-type-options"] == "nosniff"
    token = await client.post("/api/v1/auth/token", data={"username": alice.email, "password": "wrong-password"})
    assert token.headers["cache-control"] == "no-store"
    await client.post("/api/v1/auth/signup", json={"email": "fresh@example.com", "password": "long-enough-pw"})
    good = await client.post("/api/v1/auth/token", data={"username": "fresh@example.com", "password": "long-enough-pw"})
    assert good.status_code == 200
    assert good.headers["cache-control"] == "no-store"
    assert good.headers["x-content-type-options"] == "nosniff"


@pytest.fixture
def trap_database(admin_url: str) -> Iterator[str]:
    """A migrated database whose users table refuses a name and has a shorter full_name: real database errors."""
    url = create_database(admin_url, "bosun_trap")
    upgrade(make_settings(url))
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("ALTER TABLE users ADD CONSTRAINT ck_users_trap CHECK (full_name IS DISTINCT FROM 'trap')")
        conn.execute("ALTER TABLE users ALTER COLUMN full_name TYPE varchar(10)")
    yield url
    drop_database(admin_url, url)


async def test_database_errors_log_no_secret(trap_database: str, caplog: pytest.LogCaptureFixture) -> None:
    """A failing statement's parameters (the password hash) and row contents never reach the log."""
    from app.main import create_app

    password = "long-enough-secret-pw"
    caplog.set_level(logging.DEBUG)
    async with started(create_app(make_settings(trap_database))) as app:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            refused = await client.post(
                "/api/v1/auth/signup", json={"email": "t1@example.com", "password": password, "full_name": "trap"}
            )
            assert_problem(refused, 409)
            too_long = await client.post(
                "/api/v1/auth/signup",
                json={"email": "t2@example.com", "password": password, "full_name": "far too long for it"},
            )
            assert_problem(too_long, 422)
    logged = caplog.text + "".join(str(record.exc_info) for record in caplog.records if record.exc_info)
    assert logged, "nothing was logged"
    for secret in ("$argon2", password, "t1@example.com", "t2@example.com", "far too long"):
        assert secret not in logged, secret
