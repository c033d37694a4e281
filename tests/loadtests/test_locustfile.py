"""The staging load-test scenario runs for real against gunicorn, within its SQL statement budgets."""

import csv
import subprocess
from pathlib import Path

import pytest

from harness.gunicorn import BIN, gunicorn_server
from harness.paths import REPO_ROOT


@pytest.mark.usefixtures("clean_database")
def test_scenario_passes_without_failures(database_url: str, tmp_path: Path) -> None:
    with gunicorn_server(database_url, tmp_path, env={"LOG_LEVEL": "WARNING"}) as server:
        result = subprocess.run(
            [
                str(BIN / "locust"),
                "--locustfile",
                str(REPO_ROOT / "loadtests" / "locustfile.py"),
                "--headless",
                "--users",
                "4",
                "--spawn-rate",
                "4",
                "--run-time",
                "6s",
                "--host",
                server.api,
                "--csv",
                str(tmp_path / "run"),
                "--exit-code-on-error",
                "1",
                "--loglevel",
                "WARNING",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with (tmp_path / "run_stats.csv").open() as stats:
        rows = {row["Name"]: row for row in csv.DictReader(stats)}
    aggregated = rows.pop("Aggregated")
    assert int(aggregated["Failure Count"]) == 0
    assert int(aggregated["Request Count"]) > 20
    # Every weighted task ran at least once.
    for name in ("GET /api/v1/users/me/tasks", "GET /api/v1/projects", "GET /api/v1/projects/{id}/tasks"):
        assert int(rows[name]["Request Count"]) > 0, name
