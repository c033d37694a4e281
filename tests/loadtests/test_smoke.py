"""The short deterministic load-test run CI makes: every route, zero failures, every statement budget kept."""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

from app.main import create_app
from harness.api import make_settings
from harness.paths import REPO_ROOT
from loadtests.checks import load_budgets


def test_every_api_route_has_a_budget(database_url: str) -> None:
    paths = create_app(make_settings(database_url)).openapi()["paths"]
    routes = {f"{method.upper()} {path}" for path, operations in paths.items() for method in operations}
    assert set(load_budgets()) == routes


def test_smoke_run_passes(admin_url: str, tmp_path: Path) -> None:
    """`uv run poe loadtest --smoke` end to end, on the tests' PostgreSQL server."""
    result = subprocess.run(
        [sys.executable, "-m", "loadtests.run", "--smoke", "--out", str(tmp_path)],
        cwd=REPO_ROOT,
        env={**os.environ, "TEST_DATABASE_URL": admin_url},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert "load test passed" in result.stdout
    with (tmp_path / "locust_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats) if row["Name"] != "Aggregated"}
    budgets = load_budgets()
    assert set(rows) == set(budgets)  # every route, and only routes with a budget
    assert all(row["Failure Count"] == "0" for row in rows.values())
    most = json.loads((tmp_path / "locust_statements.json").read_text())
    assert set(most) == set(budgets)  # the service sent X-Query-Count on every route
    assert all(most[name] <= budgets[name] for name in budgets)
    for report in ("report.html", "locust.log"):
        assert (tmp_path / report).stat().st_size > 0
    assert (tmp_path / "server.log").exists()
