"""The production process for real: gunicorn with two uvicorn workers on the test database."""

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import GUNICORN_ARGV
from app.core.config import Settings
from harness.api import signup_and_login
from harness.gunicorn import BIN, Server, fresh_connection_gets, gunicorn_server

pytestmark = pytest.mark.usefixtures("clean_database")


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    """Started the documented way, `bosun serve --production`, which execs the image's command."""
    with gunicorn_server(database_url, tmp_path, argv=[str(BIN / "bosun"), "serve", "--production"]) as running:
        yield running


def metric_value(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        metric, _, value = line.rpartition(" ")
        metric_name, _, label_text = metric.partition("{")
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if metric_name == name and found == wanted:
            return float(value)
    return 0.0


async def test_one_scrape_counts_every_worker(server: Server) -> None:
    token = signup_and_login(server.api, "metrics@example.com", "metrics-pass-1")
    statuses = await fresh_connection_gets(f"{server.api}/api/v1/users/me", 200, {"Authorization": f"Bearer {token}"})
    assert statuses == [200] * 200
    pids = {int(m.group(1)) for f in server.multiproc_dir.iterdir() if (m := re.search(r"_(\d+)\.db$", f.name))}
    assert len(pids) >= 2, f"requests did not reach both workers: {pids}"

    scrape = httpx.get(server.metrics)
    assert scrape.status_code == 200
    text = scrape.text
    assert metric_value(text, "http_requests_total", method="GET", route="/api/v1/users/me", status="200") == 200
    assert metric_value(text, "http_request_duration_seconds_count", method="GET", route="/api/v1/users/me") == 200
    assert metric_value(text, "http_request_db_queries_count", route="/api/v1/users/me") == 200
    # At most one statement each: a worker's reads reuse the user it loaded in the last USER_CACHE_SECONDS.
    user_reads = metric_value(text, "http_request_db_queries_sum", route="/api/v1/users/me")
    assert 1 <= user_reads <= 200
    assert metric_value(text, "bosun_build_info", version="0.1.0") == 1
    defaults = Settings.model_fields
    pool_max = defaults["DB_POOL_SIZE"].default + defaults["DB_MAX_OVERFLOW"].default
    assert metric_value(text, "db_pool_connections_max") == 2 * pool_max  # two workers
    assert metric_value(text, "db_pool_connections_in_use") == 0
    assert metric_value(text, "db_query_duration_seconds_count", operation="SELECT") >= user_reads
    assert metric_value(text, "http_requests_in_progress", method="GET") == 0

    await fresh_connection_gets(f"{server.api}/no/such/page/{'x' * 5}", 3)
    unmatched = httpx.get(server.metrics).text
    assert metric_value(unmatched, "http_requests_total", method="GET", route="<unmatched>", status="404") == 3
    assert "/no/such/page" not in unmatched
    # The API port does not serve metrics.
    assert httpx.get(f"{server.api}/metrics").status_code == 404


async def test_sigterm_lets_in_flight_requests_finish(server: Server) -> None:
    email, password = "graceful@example.com", "graceful-pass-1"
    signup_and_login(server.api, email, password)

    async def login() -> int:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.post(
                f"{server.api}/api/v1/auth/token", data={"username": email, "password": password}
            )
            return response.status_code

    # Each login verifies an Argon2 hash (~0.1 s of CPU): 40 of them keep two workers busy for about two seconds.
    count = 40
    in_flight = [asyncio.create_task(login()) for _ in range(count)]
    # SIGTERM only once every request has reached a worker (and most are still being answered).
    deadline = asyncio.get_running_loop().time() + 20
    async with httpx.AsyncClient() as client:
        while True:
            scrape = (await client.get(server.metrics)).text
            running = metric_value(scrape, "http_requests_in_progress", method="POST")
            done = metric_value(scrape, "http_requests_total", method="POST", route="/api/v1/auth/token", status="200")
            if running + done - 1 >= count:  # one login happened before
                break
            assert asyncio.get_running_loop().time() < deadline, f"only {running + done - 1} requests arrived"
            await asyncio.sleep(0.02)
    assert running >= 5, f"too few requests in flight at SIGTERM ({running})"
    code = await asyncio.to_thread(server.stop)
    statuses = await asyncio.gather(*in_flight)
    assert statuses == [200] * count
    assert code == 0
    logs = server.logs()
    assert logs.count("Application shutdown complete") == 2  # both workers ran the lifespan: pools disposed
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.api}/healthz", timeout=2)


def test_json_logs_and_no_secrets(server: Server) -> None:
    password = "hunter2-very-secret"
    token = signup_and_login(server.api, "logs@example.com", password)
    httpx.get(f"{server.api}/api/v1/users/me", headers={"Authorization": f"Bearer {token}", "X-Request-ID": "req-42"})
    httpx.put(
        f"{server.api}/api/v1/users/me/password",
        json={"current_password": password, "new_password": "another-secret-pw"},
        headers={"Authorization": f"Bearer {token}"},
    )
    server.stop()
    logs = server.logs()
    lines = [line for line in logs.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    for record in records:
        assert {"timestamp", "level", "logger", "message"} <= record.keys()
    access = [r for r in records if r["logger"] == "bosun.access"]
    me = next(r for r in access if r["route"] == "/api/v1/users/me")
    assert me["request_id"] == "req-42"
    assert me["method"] == "GET"
    assert me["status"] == 200
    assert me["query_count"] == 1
    assert me["client"] == "127.0.0.1"
    assert isinstance(me["duration_ms"], float)
    assert not [r for r in records if r["logger"].startswith("uvicorn.access")]
    assert any(r["logger"] == "gunicorn.error" and "Booting worker" in r["message"] for r in records)
    for secret in (password, "another-secret-pw", token, "runtime-test-secret-0123456789abcdef"):
        assert secret not in logs


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ENVIRONMENT": "production", "SECRET_KEY": "changethis"}, "SECRET_KEY must be set"),
        ({"ENVIRONMENT": "production", "CORS_ORIGINS": "*"}, "CORS_ORIGINS must not contain '*' in production"),
        ({"ENVIRONMENT": "production", "CORS_ORIGINS": "http://app.example.com"}, "must use https"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"DATABASE_URL": "mysql://u@h/d"}, "DATABASE_URL: must be a PostgreSQL URL"),
    ],
)
def test_bad_configuration_stops_start_up(database_url: str, env: dict[str, str], message: str) -> None:
    base = {
        "PATH": str(BIN),
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "production",
        "SECRET_KEY": "x" * 40,
        "CORS_ORIGINS": "https://app.example.com",
        "PORT": "18000",
        "METRICS_PORT": "0",
    }
    base.update(env)
    if not base["DATABASE_URL"]:
        del base["DATABASE_URL"]
    result = subprocess.run(GUNICORN_ARGV, env=base, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("bosun: ")
    assert message in lines[0]
