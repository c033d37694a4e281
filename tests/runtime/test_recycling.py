"""Worker recycling (MAX_REQUESTS) under load: every request is answered, with one worker too."""

from pathlib import Path

import pytest

from harness.api import signup_and_login
from harness.gunicorn import fresh_connection_gets, gunicorn_server

pytestmark = pytest.mark.usefixtures("clean_database")

MAX_REQUESTS = 20
REQUESTS = 240


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
        logs = server.logs()
    assert statuses == [200] * REQUESTS
    boots = logs.count("Booting worker with pid")
    assert boots >= workers + REQUESTS // MAX_REQUESTS // 2, f"only {boots} workers started: no recycling?"
