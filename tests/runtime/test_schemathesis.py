"""Schemathesis against the running service, with a token: the OpenAPI document says exactly what the API does.

Deterministic and bounded: a fixed seed, a bounded number of examples per operation, no example database.
"""

import subprocess
from pathlib import Path

import httpx
import pytest

from harness.api import signup_and_login
from harness.gunicorn import BIN, gunicorn_server

CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261127
MAX_EXAMPLES = 25


@pytest.mark.usefixtures("clean_database")
def test_schemathesis_finds_nothing(database_url: str, tmp_path: Path) -> None:
    env = {"LOG_LEVEL": "WARNING", "LOGIN_FAILURES_PER_CLIENT": "100000"}
    with gunicorn_server(database_url, tmp_path, env=env) as server:
        token = signup_and_login(server.api, "fuzzer@example.com", "fuzzing-password-1")
        # Something to find: a team with a project and a task, so id-taking operations also reach real objects.
        headers = {"Authorization": f"Bearer {token}"}
        team = httpx.post(f"{server.api}/api/v1/teams", json={"name": "Fuzz"}, headers=headers).json()
        project = httpx.post(
            f"{server.api}/api/v1/teams/{team['id']}/projects", json={"name": "Fuzz"}, headers=headers
        ).json()
        httpx.post(f"{server.api}/api/v1/projects/{project['id']}/tasks", json={"title": "Fuzz"}, headers=headers)
        result = subprocess.run(
            [
                str(BIN / "schemathesis"),
                "--config-file",
                str(CONFIG),
                "run",
                f"{server.api}/api/v1/openapi.json",
                "--url",
                server.api,
                "--header",
                f"Authorization: Bearer {token}",
                "--checks",
                "all",
                "--seed",
                str(SEED),
                "--max-examples",
                str(MAX_EXAMPLES),
                "--generation-database",
                "none",
                "--workers",
                "1",
                "--no-color",
                "--request-timeout",
                "30",
            ],
            capture_output=True,
            text=True,
            timeout=1200,
            cwd=tmp_path,
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-20000:]
