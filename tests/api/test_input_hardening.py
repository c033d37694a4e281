"""Hostile input: NUL characters, huge offsets and bodies get a clear 4xx, never a 500, and nothing secret is logged."""

import json
import logging
import re
import sys
from collections.abc import AsyncIterator, Iterator

import httpx
import psycopg
import pytest
from sqlalchemy import update
from sqlmodel import col

from app.api.deps import SessionDep
from app.core.logging import TextFormatter
from app.core.migrations import upgrade
from app.models.users import User
from harness.api import (
    Actor,
    AppFactory,
    app_of,
    assert_problem,
    create_project,
    create_task,
    create_team,
    make_settings,
    started,
)
from harness.postgres import create_database, drop_database, libpq_url

NUL = "a\u0000b"
SURROGATE = "a\ud800b"  # a lone UTF-16 surrogate: valid in JSON, no UTF-8 form


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


async def _send(
    client: httpx.AsyncClient, method: str, url: str, body: object, headers: dict[str, str] | None = None
) -> httpx.Response:
    # json.dumps escapes what UTF-8 cannot hold (a lone surrogate) as JSON does; httpx's json= would fail on it.
    content = json.dumps(body).encode()
    return await client.request(
        method, url, content=content, headers={"Content-Type": "application/json", **(headers or {})}
    )


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
async def test_unstorable_text_in_signup_is_422(client: httpx.AsyncClient, bad: str) -> None:
    body = {"email": "bad@example.com", "password": "a long passphrase", "full_name": bad}
    _field_named(assert_problem(await _send(client, "POST", "/api/v1/auth/signup", body), 422), "full_name")


@pytest.mark.parametrize("bad", [NUL, SURROGATE])
async def test_unstorable_text_in_every_text_field_is_422(client: httpx.AsyncClient, alice: Actor, bad: str) -> None:
    async def refused(method: str, url: str, body: dict[str, object], field: str) -> None:
        _field_named(assert_problem(await _send(client, method, url, body, alice.headers), 422), field)

    await refused("POST", "/api/v1/teams", {"name": bad}, "name")
    await refused("PATCH", "/api/v1/users/me", {"full_name": bad}, "full_name")
    team = await create_team(client, alice)
    await refused("POST", f"/api/v1/teams/{team['id']}/projects", {"name": bad}, "name")
    await refused("POST", f"/api/v1/teams/{team['id']}/projects", {"name": "ok", "description": bad}, "description")
    project = await create_project(client, alice, team["id"])
    await refused("PATCH", f"/api/v1/projects/{project['id']}", {"name": bad}, "name")
    await refused("PATCH", f"/api/v1/projects/{project['id']}", {"description": bad}, "description")
    await refused("POST", f"/api/v1/projects/{project['id']}/tasks", {"title": bad}, "title")
    task = await create_task(client, alice, project["id"])
    await refused("PATCH", f"/api/v1/tasks/{task['id']}", {"title": bad}, "title")
    await refused("PATCH", f"/api/v1/tasks/{task['id']}", {"description": bad}, "description")
    await refused("PATCH", "/api/v1/users/me", {"email": f"a{bad}b@example.com"}, "email")
    await refused("POST", f"/api/v1/teams/{team['id']}/members", {"email": f"a{bad}b@example.com"}, "email")
    await refused("POST", f"/api/v1/teams/{team['id']}/invitations", {"email": f"a{bad}b@example.com"}, "email")
    await refused("POST", "/api/v1/invitations/accept", {"token": f"{'a' * 40}{bad}"}, "token")


async def test_text_the_database_cannot_encode_is_422_not_500(client: httpx.AsyncClient, alice: Actor) -> None:
    """A backstop behind validation: psycopg's UnicodeEncodeError for a lone surrogate is a 422, never a 500."""
    app = app_of(client)

    async def unvalidated_write(session: SessionDep) -> None:
        await session.exec(update(User).where(col(User.id) == alice.id).values(full_name="a\ud800b"))

    app.add_api_route("/api/v1/test-unvalidated-write", unvalidated_write, methods=["POST"])
    try:
        response = await client.post("/api/v1/test-unvalidated-write")
    finally:
        app.router.routes.pop()
    assert_problem(response, 422, "cannot be stored")


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


async def test_docs_assets_may_be_cached_and_api_responses_may_not(client: httpx.AsyncClient, alice: Actor) -> None:
    docs = await client.get("/docs")
    assert docs.status_code == 200
    assets = re.findall(r"/static-offline-docs/[\w.-]+", docs.text)
    assert assets, docs.text
    for asset in assets:
        response = await client.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=86400", asset
        assert response.headers["x-content-type-options"] == "nosniff"
    revalidated = await client.get(assets[-1], headers={"If-None-Match": response.headers["etag"]})
    assert revalidated.status_code == 304
    assert revalidated.headers["cache-control"] == "public, max-age=86400"
    for url in ("/api/v1/users/me", "/api/v1/teams", "/api/v1/openapi.json", "/docs"):
        assert (await client.get(url, headers=alice.headers)).headers["cache-control"] == "no-store", url


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


FORGING_PATH = "/api/v1/x%0A07:45:00%20ERROR%20bosun.access:%20forged%0D%1B[31m%C2%85"


async def test_a_path_cannot_forge_a_text_log_line(make_client: AppFactory, capsys: pytest.CaptureFixture[str]) -> None:
    """An encoded newline (or other control character) in a path stays inside its record's one line."""
    client = await make_client(LOG_FORMAT="text")
    capsys.readouterr()
    assert_problem(await client.get(FORGING_PATH), 404)
    lines = capsys.readouterr().out.splitlines()
    assert lines, "nothing was logged"
    assert all(re.match(r"\d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) ", line) for line in lines), lines
    (access,) = [line for line in lines if "bosun.access" in line]
    assert access.endswith("/api/v1/x\\n07:45:00 ERROR bosun.access: forged\\r\\x1b[31m\\x85 404"), access


async def test_a_path_cannot_forge_a_json_log_line(make_client: AppFactory, capsys: pytest.CaptureFixture[str]) -> None:
    client = await make_client(LOG_FORMAT="json")
    capsys.readouterr()
    assert_problem(await client.get(FORGING_PATH), 404)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (access,) = [record for record in records if record["logger"] == "bosun.access"]
    assert access["message"] == "GET /api/v1/x\n07:45:00 ERROR bosun.access: forged\r\x1b[31m\x85 404"


def test_text_log_tracebacks_are_indented() -> None:
    """Every line after a record's first is indented: not even an exception's message can start a record."""
    try:
        raise ValueError("bad\n07:45:00 ERROR forged")
    except ValueError:
        record = logging.LogRecord("bosun", logging.ERROR, __file__, 1, "failed on %s", ("a\nb",), sys.exc_info())
    first, *rest = TextFormatter().format(record).split("\n")
    assert first.endswith("bosun: failed on a\\nb"), first
    assert rest and all(line.startswith("    ") for line in rest), rest
