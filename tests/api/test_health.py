"""Liveness and readiness against real databases: migrated, behind, ahead (a newer release's), unreachable."""

import asyncio
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from app.core.migrations import code_heads, code_revisions, downgrade, schema_state, upgrade
from harness.api import AppFactory, UserFactory, assert_problem, make_settings
from harness.postgres import create_database, drop_database, libpq_url


@pytest.fixture
def empty_database(admin_url: str) -> Iterator[str]:
    url = create_database(admin_url, "bosun_ready")
    yield url
    drop_database(admin_url, url)


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_when_schema_is_at_head(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready", "database": "ok", "schema": ", ".join(sorted(code_heads()))}


async def test_not_ready_until_migrated(make_client: AppFactory, empty_database: str) -> None:
    client = await make_client(DATABASE_URL=empty_database)
    body = assert_problem(await client.get("/readyz"), 503, "schema is at empty")
    assert "run migrations" in body["detail"]
    settings = make_settings(empty_database)
    # Alembic's env.py runs its own event loop: give it a thread.
    await asyncio.to_thread(upgrade, settings)
    assert (await client.get("/readyz")).status_code == 200
    await asyncio.to_thread(downgrade, settings, "base")
    assert_problem(await client.get("/readyz"), 503, "schema is at empty")
    assert (await client.get("/healthz")).status_code == 200


@pytest.mark.parametrize(
    ("database", "state"),
    [
        ({"c"}, "current"),
        (set(), "behind"),
        ({"a"}, "behind"),  # an older revision of this code
        ({"b"}, "behind"),
        ({"d"}, "ahead"),  # a revision this code does not ship: a newer release migrated the database
        ({"c", "d"}, "ahead"),
    ],
)
def test_schema_state(database: set[str], state: str) -> None:
    assert schema_state(frozenset(database), frozenset({"c"}), frozenset({"a", "b", "c"})) == state


def test_the_shipped_heads_are_shipped_revisions() -> None:
    assert code_heads() <= code_revisions()
    assert schema_state(code_heads(), code_heads(), code_revisions()) == "current"


async def test_old_code_stays_ready_when_a_newer_release_migrated_the_database(
    make_client: AppFactory, empty_database: str
) -> None:
    """During a rollout the old pods keep serving after the new image's migration ran (no outage between)."""
    settings = make_settings(empty_database)
    await asyncio.to_thread(upgrade, settings)
    with psycopg.connect(libpq_url(empty_database), autocommit=True) as conn:
        conn.execute("UPDATE alembic_version SET version_num = 'f00dfeed0001'")
    client = await make_client(DATABASE_URL=empty_database)
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready", "database": "ok", "schema": "f00dfeed0001", "code": ", ".join(sorted(code_heads())),
    }  # fmt: skip
    # Behind is still not ready.
    with psycopg.connect(libpq_url(empty_database), autocommit=True) as conn:
        conn.execute("DELETE FROM alembic_version")
    assert_problem(await client.get("/readyz"), 503, "schema is at empty")


async def test_not_ready_when_database_is_unreachable(make_client: AppFactory) -> None:
    client = await make_client(DATABASE_URL="postgresql://bosun@127.0.0.1:9/bosun", DB_CONNECT_TIMEOUT=1)
    assert_problem(await client.get("/readyz"), 503, "unreachable")
    assert (await client.get("/healthz")).status_code == 200
    # API calls fail fast with a 503 problem, not a 500.
    response = await client.post("/api/v1/auth/token", data={"username": "a@example.com", "password": "x"})
    assert_problem(response, 503, "database is unavailable")
    assert response.headers["retry-after"] == "5"


async def test_a_full_pool_is_busy_not_an_outage(make_client: AppFactory, make_user: UserFactory) -> None:
    from sqlalchemy import literal
    from sqlmodel import select

    from harness.api import database_of

    client = await make_client(DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=0.2)
    user = await make_user()
    async with database_of(client).session() as held:
        await held.exec(select(literal(1)))
        response = await client.get("/api/v1/users/me", headers=user.headers)
    assert_problem(response, 503, "too busy")
    assert response.headers["retry-after"] == "5"
