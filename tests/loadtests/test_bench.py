"""`uv run poe bench` end to end, one short repeat: every endpoint answers, the JSON report has its shape."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.paths import REPO_ROOT
from loadtests.bench import ENDPOINTS, HEALTHZ, database_process


def bench(*args: str, admin_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "loadtests.bench", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "TEST_DATABASE_URL": admin_url},
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_one_short_repeat_measures_every_endpoint(admin_url: str, tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    args = ("--repeat", "1", "--duration", "1", "--concurrency", "4", "--workers", "2", "--json", str(out))
    result = bench(*args, admin_url=admin_url)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["config"]["workers"] == 2
    assert report["machine"]["cpus"] >= 1
    endpoints = report["endpoints"]
    assert list(endpoints) == [endpoint.name for endpoint in ENDPOINTS]
    for name, row in endpoints.items():
        assert row["rps"]["min"] > 0, name
        assert row["errors"] == 0, (name, row)  # every answer was a 2xx (the PATCHes' If-Match kept up)
        assert row["p50_ms"] <= row["p95_ms"] <= row["p99_ms"], name
    assert endpoints[HEALTHZ]["ratio_to_healthz"] == 1.0
    assert endpoints[HEALTHZ]["queries"] == 0  # liveness never touches the database
    # Where the CPU went: the workers, PostgreSQL (when it runs on this machine) and wrk, per request.
    page = endpoints["GET /api/v1/projects/{id}/tasks?limit=50"]
    assert page["cpu_ms"] > 0 and page["client_cpu_ms"] > 0, page
    if database_process(admin_url) is not None:
        assert page["db_cpu_ms"] > 0, page
    else:
        assert page["db_cpu_ms"] is None, page
    assert 0 < report["page_size_ratio"]["min"] <= report["page_size_ratio"]["max"]
    assert endpoints["GET /api/v1/users/me"]["queries"] <= 1  # the user cache answers most reads
    assert endpoints["GET /api/v1/projects/{id}/tasks?limit=50"]["queries"] == 1  # one statement, no N+1
    assert report["startup_s"]["median"] > 0
    assert report["rss_mib"]["worker"]["median"] > 0
    assert "start-up to the first 200 from /readyz" in result.stdout  # the table for people


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--workers", "0"], "--workers must be from 1 to 64"),
        (["--duration", "-1"], "--duration must be from 1 to 3600"),
        (["--repeat", "999999999999999999999"], "--repeat must be from 1 to 100"),
        (["--set", "DB_POOL_SIZE"], "--set takes NAME=VALUE"),
        (["--endpoint", "GET /nowhere"], "invalid choice"),
        (["--concurrency", "many"], "invalid int value"),
    ],
)
def test_bad_options_are_one_line(args: list[str], message: str, admin_url: str) -> None:
    result = bench(*args, admin_url=admin_url)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
