"""What a request costs in round trips: read-only sessions send no BEGIN/COMMIT, dead connections are replaced
without a ping, and the user of a token is reused by reads for at most USER_CACHE_SECONDS."""

import time

import httpx
import psycopg
from psycopg import pq
from sqlalchemy import text

from app.core.config import Settings
from app.core.db import Database
from harness.api import AppFactory, UserFactory, database_of
from harness.postgres import libpq_url


async def _transaction_status(database: Database, *, read_only: bool) -> pq.TransactionStatus:
    async with database.session(read_only=read_only) as session:
        await session.exec(text("SELECT 1"))  # type: ignore[call-overload]
        raw = await (await session.connection()).get_raw_connection()
        connection = raw.driver_connection
        assert isinstance(connection, psycopg.AsyncConnection)
        return connection.info.transaction_status


async def test_read_only_sessions_open_no_transaction(settings: Settings) -> None:
    database = Database(settings)
    try:
        # A statement in a read-only session leaves the connection idle: no BEGIN was sent, no COMMIT is due.
        assert await _transaction_status(database, read_only=True) is pq.TransactionStatus.IDLE
        assert await _transaction_status(database, read_only=False) is pq.TransactionStatus.INTRANS
        # The pooled connection went back in its usual mode: the next write session is transactional again.
        assert await _transaction_status(database, read_only=False) is pq.TransactionStatus.INTRANS
    finally:
        await database.dispose()


def _terminate_other_sessions(database_url: str) -> int:
    """End every other session of the database, as a server restart does, and wait until they are gone."""
    others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        ended = len(admin.execute(f"SELECT pg_terminate_backend(pid) {others}").fetchall())
        for _ in range(500):
            row = admin.execute(f"SELECT count(*) {others}").fetchone()
            if row is not None and row[0] == 0:
                break
            time.sleep(0.01)
    return ended


async def test_a_connection_the_server_ended_is_replaced_before_use(
    client: httpx.AsyncClient, make_user: UserFactory, database_url: str
) -> None:
    alice = await make_user("alice@example.com")
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200
    assert _terminate_other_sessions(database_url) >= 1  # the pooled connections of the app
    for path in ("/api/v1/users/me", "/api/v1/teams"):
        response = await client.get(path, headers=alice.headers)
        assert response.status_code == 200, response.text
    assert (await client.patch("/api/v1/users/me", json={"full_name": "A"}, headers=alice.headers)).status_code == 200


async def test_reads_reuse_the_user_for_a_bounded_time(
    make_client: AppFactory, make_user: UserFactory, database_url: str
) -> None:
    client = await make_client(USER_CACHE_SECONDS=5)
    cache = database_of(client).rows
    now = [1000.0]
    cache.clock = lambda: now[0]
    alice = await make_user("alice@example.com", full_name="Alice")
    first = await client.get("/api/v1/users/me", headers=alice.headers)
    again = await client.get("/api/v1/users/me", headers=alice.headers)
    assert first.headers["x-query-count"] == "1"
    assert again.headers["x-query-count"] == "0"
    assert again.json() == first.json()
    # A list still loads its user from the cache (its one statement: the page with its total), and a write reads it
    # afresh.
    assert (await client.get("/api/v1/teams", headers=alice.headers)).headers["x-query-count"] == "1"

    # A change this process makes is seen at once.
    renamed = await client.patch("/api/v1/users/me", json={"full_name": "Alice B"}, headers=alice.headers)
    assert renamed.status_code == 200
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).json()["full_name"] == "Alice B"

    # A change made elsewhere (another worker, SQL): writes refuse a deactivated user at once, reads within the
    # cache's time.
    with psycopg.connect(libpq_url(database_url), autocommit=True) as admin:
        admin.execute("UPDATE users SET is_active = false WHERE email = 'alice@example.com'")
    write = await client.post("/api/v1/teams", json={"name": "T"}, headers=alice.headers)
    assert write.status_code == 401
    now[0] += 4.9
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 200
    now[0] += 0.2
    assert (await client.get("/api/v1/users/me", headers=alice.headers)).status_code == 401


async def test_no_cache_by_default_in_tests_and_off_at_zero(client: httpx.AsyncClient, make_user: UserFactory) -> None:
    alice = await make_user("alice@example.com")
    counts = [(await client.get("/api/v1/users/me", headers=alice.headers)).headers["x-query-count"] for _ in range(2)]
    assert counts == ["1", "1"]
