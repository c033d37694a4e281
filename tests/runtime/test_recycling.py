"""Worker recycling (MAX_REQUESTS) under load: every request is answered, with one worker too."""

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from harness.api import signup_and_login
from harness.gunicorn import fresh_connection_gets, gunicorn_server

pytestmark = pytest.mark.usefixtures("clean_database")

MAX_REQUESTS = 20
REQUESTS = 240
KEEP_ALIVE_CLIENTS = 8
KEEP_ALIVE_REQUESTS = 100  # per client: uvicorn checks MAX_REQUESTS every 0.1 s, fast clients overshoot it


@pytest.mark.parametrize("workers", [1, 2])
async def test_recycling_leaves_no_request_unanswered(database_url: str, tmp_path: Path, workers: int) -> None:
    env = {"MAX_REQUESTS": str(MAX_REQUESTS), "MAX_REQUESTS_JITTER": "0", "LOG_LEVEL": "INFO"}
    with gunicorn_server(database_url, tmp_path, env=env, workers=workers) as server:
        token = signup_and_login(server.api, f"recycle-{workers}@example.com", "recycle-pass-1")
        headers = {"Authorization": f"Bearer {token}"}
        # Many clients at once, each on a fresh connection: some always arrive while a worker retires.
        statuses = await fresh_connection_gets(
            f"{server.api}/api/v1/users/me", REQUESTS, headers, concurrency=16, client_timeout=20
        )
    logs = server.logs()  # once the server has stopped: every worker's last lines written
    assert statuses == [200] * REQUESTS
    assert_recycled(logs, workers + REQUESTS // MAX_REQUESTS // 2)
    assert access_lines(logs, "/api/v1/users/me") == REQUESTS, "a retiring worker lost access log lines"


@pytest.mark.parametrize(
    ("workers", "path"),
    [(1, "/api/v1/users/me"), (2, "/api/v1/users/me"), (1, "/healthz")],  # /healthz: answered without a pause
)
async def test_recycling_answers_keep_alive_clients(database_url: str, tmp_path: Path, workers: int, path: str) -> None:
    """Clients that reuse their connection send each request the moment the last answer arrives: a retiring
    worker answers the one already on its way (with Connection: close) instead of closing under it."""
    env = {"MAX_REQUESTS": str(MAX_REQUESTS), "MAX_REQUESTS_JITTER": "0", "LOG_LEVEL": "INFO"}
    with gunicorn_server(database_url, tmp_path, env=env, workers=workers) as server:
        token = signup_and_login(server.api, f"keep-alive-{workers}@example.com", "recycle-pass-1")
        closed_by_server = 0

        async def client() -> list[int]:
            nonlocal closed_by_server
            statuses = []
            # One connection per client, reused until the server says Connection: close; no retries.
            limits = httpx.Limits(max_connections=1)
            async with httpx.AsyncClient(
                base_url=server.api, headers={"Authorization": f"Bearer {token}"}, limits=limits, timeout=20
            ) as http:
                for _ in range(KEEP_ALIVE_REQUESTS):
                    response = await http.get(path)
                    statuses.append(response.status_code)
                    closed_by_server += response.headers.get("connection") == "close"
            return statuses

        results = await asyncio.gather(*(client() for _ in range(KEEP_ALIVE_CLIENTS)))
        logs = server.logs()
    assert [status for statuses in results for status in statuses] == [200] * KEEP_ALIVE_CLIENTS * KEEP_ALIVE_REQUESTS
    assert_recycled(logs, workers + 3)
    assert closed_by_server > 0, "no response said Connection: close: no worker retired while a client was busy?"


def assert_recycled(logs: str, at_least: int) -> None:
    boots = logs.count("Booting worker with pid")
    assert boots >= at_least, f"only {boots} workers started: not enough recycling to test"


def access_lines(logs: str, route: str) -> int:
    records = (json.loads(line) for line in logs.splitlines() if line.startswith("{"))
    return sum(1 for record in records if record.get("logger") == "bosun.access" and record.get("route") == route)
