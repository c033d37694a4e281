"""The operator runs with its own dependency group and the app's settings model alone, installed the way its image
installs them: no SQLAlchemy, psycopg, FastAPI or gunicorn, and it still validates and reconciles releases."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cluster import install_crd
from harness.control_plane import ControlPlane
from harness.operator import OperatorProcess
from harness.paths import REPO_ROOT
from harness.releases import apply as apply_release
from harness.releases import condition, database_secret, phase, release, wait_for

# What the image's operator target copies: the dependency files, the settings model and the operator package.
FILES = ["pyproject.toml", "uv.lock", "README.md", "app/__init__.py", "app/core/__init__.py", "app/core/config.py"]
SERVICE_ONLY = ["sqlalchemy", "sqlmodel", "psycopg", "fastapi", "starlette", "gunicorn", "alembic", "uvicorn"]


@pytest.fixture(scope="module")
def lean(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tree with only the operator group installed (offline, from uv's cache), as the image builds it."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    root = tmp_path_factory.mktemp("operator-image")
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / name, root / name)
    shutil.copytree(
        REPO_ROOT / "operator" / "bosun_operator",
        root / "operator" / "bosun_operator",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(root / ".venv"), "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    python = f"--python={sys.executable}"
    for command in (
        [uv, "sync", "--locked", "--offline", python, "--only-group", "operator", "--no-install-project"],
        [uv, "pip", "install", "--offline", "--python", str(root / ".venv"), "--no-deps", "--editable", "."],
    ):
        result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
    return root


def test_the_service_dependencies_are_not_installed(lean: Path) -> None:
    probe = "import importlib.util, sys; print(','.join(m for m in sys.argv[1:] if importlib.util.find_spec(m)))"
    python = lean / ".venv" / "bin" / "python"
    result = subprocess.run([python, "-c", probe, *SERVICE_ONLY], capture_output=True, text=True, cwd=lean)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.k8s
def test_the_lean_operator_reconciles_and_validates(kube: ControlPlane, lean: Path) -> None:
    install_crd(kube)
    namespace = kube.create_namespace("lean")
    database_secret(kube, namespace, "postgresql://bosun:pw@db.example.com/bosun")
    operator = OperatorProcess(kube, [namespace], binary=lean / ".venv" / "bin" / "bosun-operator")
    operator.start()
    try:
        apply_release(kube, namespace, release("lean", settings={"DB_POOL_SIZE": "0"}))
        body = wait_for(kube, namespace, phase("Invalid"), "lean")
    finally:
        operator.stop()
    assert "DB_POOL_SIZE" in condition(body, "Valid")["message"]
