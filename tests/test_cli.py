"""The `bosun` command: migrate, openapi, create-superuser, and one-line errors."""

import io
import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.cli import main
from harness.ports import free_port
from harness.postgres import create_database, drop_database, libpq_url

BOSUN = str(Path(sys.executable).parent / "bosun")


@pytest.fixture
def empty_url(admin_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = create_database(admin_url, "bosun_cli")
    monkeypatch.setenv("DATABASE_URL", url)
    yield url
    drop_database(admin_url, url)


def run(*args: str, stdin: str = "") -> tuple[int, str]:
    """Run the CLI in-process; returns (exit code, stderr)."""
    import contextlib

    err = io.StringIO()
    code = 0
    with contextlib.redirect_stderr(err), _stdin(stdin):
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, err.getvalue()


@pytest.fixture(autouse=True)
def _no_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env from the developer's checkout
    for name in ("ENVIRONMENT", "SECRET_KEY", "CORS_ORIGINS", "AUTH_MODE"):
        monkeypatch.delenv(name, raising=False)


class _stdin:  # noqa: N801
    def __init__(self, text: str) -> None:
        self.text = text

    def __enter__(self) -> None:
        self.saved = sys.stdin
        sys.stdin = io.StringIO(self.text)

    def __exit__(self, *args: object) -> None:
        sys.stdin = self.saved


def test_migrate_and_create_superuser(empty_url: str) -> None:
    assert run("migrate") == (0, "database migrated to head\n")
    code, err = run("create-superuser", "--email", "Root@Example.com", "--password-stdin", stdin="super-secret-pw\n")
    assert (code, err) == (0, "superuser root@example.com created\n")
    code, err = run("create-superuser", "--email", "root@example.com", "--password-stdin", stdin="super-secret-pw\n")
    assert err == "root@example.com is already a superuser (its password is unchanged)\n"
    with psycopg.connect(libpq_url(empty_url)) as conn:
        row = conn.execute(
            "SELECT is_superuser, hashed_password FROM users WHERE email = 'root@example.com'"
        ).fetchone()
    assert row is not None
    assert row[0] is True
    assert row[1].startswith("$argon2")


def test_create_superuser_rejects_bad_input(empty_url: str) -> None:
    run("migrate")
    code, err = run("create-superuser", "--email", "root@example.com", "--password-stdin", stdin="short\n")
    assert code == 1
    assert err.startswith("bosun: password:")
    assert err.count("\n") == 1
    code, err = run("create-superuser", "--email", "nope", "--password-stdin", stdin="long-enough-pw\n")
    assert code == 1
    assert err.startswith("bosun: email:")


def test_migrate_to_a_revision_and_unknown_revision(empty_url: str) -> None:
    assert run("migrate", "base")[0] == 0
    code, err = run("migrate", "deadbeef")
    assert code == 1
    assert err.startswith("bosun: migration failed:")
    assert err.count("\n") == 1


def test_openapi_to_file_and_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    target = tmp_path / "openapi.json"
    assert run("openapi", str(target))[0] == 0
    document = json.loads(target.read_text())
    assert document["info"]["title"] == "Bosun"
    assert run("openapi")[0] == 0
    assert json.loads(capsys.readouterr().out) == document
    code, err = run("openapi", str(tmp_path / "missing" / "dir" / "x.json"))
    assert code == 1
    assert err.startswith("bosun: cannot write")


def test_errors_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    code, err = run("migrate")
    assert code == 1
    assert err == "bosun: invalid configuration: SECRET_KEY must be set to a random value of at least 32 characters\n"
    monkeypatch.delenv("ENVIRONMENT")
    monkeypatch.delenv("DATABASE_URL", raising=False)
    assert run("migrate") == (1, "bosun: DATABASE_URL is not set\n")
    monkeypatch.setenv("DATABASE_URL", "mysql://x@h/d")
    assert run("migrate") == (
        1,
        "bosun: invalid configuration: DATABASE_URL: must be a PostgreSQL URL "
        "(postgresql://user:password@host:port/database)\n",
    )
    monkeypatch.setenv("DATABASE_URL", "postgresql://bosun@127.0.0.1:9/bosun")
    code, err = run("migrate")
    assert code == 1
    assert err.startswith("bosun: database error: connection failed")
    assert err.count("\n") == 1


def test_console_script_is_installed(empty_url: str) -> None:
    """The real entry point, as the operator's migration Job runs it."""
    result = subprocess.run([BOSUN, "migrate"], env={**os.environ}, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    bad = subprocess.run(
        [BOSUN, "migrate"], env={**os.environ, "ENVIRONMENT": "production"}, capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 1
    assert bad.stderr.startswith("bosun: invalid configuration: SECRET_KEY")
    assert "Traceback" not in bad.stderr


def _serve(data_dir: Path, port: int | None, metrics_port: int | None = None, **env: str) -> subprocess.Popen[str]:
    """`bosun serve` on an embedded PostgreSQL in data_dir; metrics only when a port is given."""
    environment = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "TEST_DATABASE_URL", "PORT")}
    environment.pop("METRICS_PORT", None)
    if metrics_port is not None:
        environment["METRICS_PORT"] = str(metrics_port)
    environment.update(env)
    argv = [BOSUN, "serve", "--data-dir", str(data_dir)]
    if port is not None:
        argv += ["--port", str(port)]
    return subprocess.Popen(argv, env=environment, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)


def _wait_ready(port: int, process: subprocess.Popen[str]) -> None:
    import time

    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("bosun serve did not become ready")


def test_serve_with_embedded_postgres_keeps_data(tmp_path: Path) -> None:
    """The README's run command: no DATABASE_URL, an embedded server, migrations applied, data kept."""
    import httpx

    data_dir = tmp_path / "pgdata"
    port, metrics_port = free_port(), free_port()
    server = _serve(data_dir, port, metrics_port)
    try:
        _wait_ready(port, server)
        base = f"http://127.0.0.1:{port}"
        signup = httpx.post(f"{base}/api/v1/auth/signup", json={"email": "keep@example.com", "password": "long-enough"})
        assert signup.status_code == 201
        assert httpx.get(f"{base}/docs").status_code == 200
        # A single process serves its own metrics port.
        scrape = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert 'http_requests_total{method="POST",route="/api/v1/auth/signup",status="201"} 1.0' in scrape
    finally:
        server.terminate()
        assert server.wait(timeout=30) in (0, 128 + 15)
    stderr = server.stderr.read() if server.stderr else ""
    assert "Embedded PostgreSQL running" in stderr
    assert f"interactive docs: http://127.0.0.1:{port}/docs" in stderr
    assert not (data_dir / "postmaster.pid").exists(), "the embedded server was not stopped"

    again = _serve(data_dir, port)
    try:
        _wait_ready(port, again)
        login = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            data={"username": "keep@example.com", "password": "long-enough"},
        )
        assert login.status_code == 200
    finally:
        again.terminate()
        again.wait(timeout=30)


def test_bad_database_url_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://u:secret-pw@127.0.0.1:notaport/db")
    code, err = run("migrate")
    assert code == 1
    assert err.startswith("bosun: invalid configuration: DATABASE_URL: is not a valid URL")
    assert err.count("\n") == 1
    assert "secret-pw" not in err


def test_create_superuser_without_a_terminal_says_how(empty_url: str) -> None:
    run("migrate")
    code, err = run("create-superuser", "--email", "root@example.com")  # stdin is not a terminal here
    assert code == 1
    assert err == "bosun: no terminal to ask for the password: pass it with --password-stdin\n"
    result = subprocess.run(
        [BOSUN, "create-superuser", "--email", "root@example.com"],
        env={**os.environ},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr) == (1, err)


def test_promoting_an_existing_user_keeps_its_password(empty_url: str) -> None:
    run("migrate")
    assert run("create-superuser", "--email", "root@example.com", "--password-stdin", stdin="first-secret-pw\n")[0] == 0
    with psycopg.connect(libpq_url(empty_url)) as conn:
        conn.execute("UPDATE users SET is_superuser = false")
    code, err = run("create-superuser", "--email", "root@example.com")  # no password asked, no terminal needed
    assert (code, err) == (0, "root@example.com already existed and is now a superuser (its password is unchanged)\n")
    code, err = run("create-superuser", "--email", "root@example.com", "--password-stdin", stdin="other-secret-pw\n")
    assert (code, err) == (0, "root@example.com is already a superuser (its password is unchanged)\n")


def test_serve_help_says_host_and_port_are_read_by_every_server(capsys: pytest.CaptureFixture[str]) -> None:
    """The development server reads HOST/PORT too (--host/--port win over them), not only --production."""
    assert run("serve", "--help")[0] == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "with --production: HOST" not in usage
    assert "bind address (default: HOST, else 127.0.0.1)" in usage
    assert "API port (default: PORT, else 8000)" in usage


def test_usage_errors_exit_2() -> None:
    assert run("serve", "--port", "http")[0] == 2
    assert run("no-such-command")[0] == 2


def test_a_second_dev_server_harms_nothing(tmp_path: Path) -> None:
    """Two dev servers on one data folder: no metrics port clash, and stopping or failing one keeps the other."""
    import httpx
    import jwt

    data_dir = tmp_path / "pgdata"
    port, other_port = free_port(), free_port()
    first = _serve(data_dir, port)
    try:
        _wait_ready(port, first)
        base = f"http://127.0.0.1:{port}"
        # Without SECRET_KEY, a random key is generated once and kept beside the data folder.
        key_file = tmp_path / "secret_key"
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert len(key_file.read_text().strip()) >= 32
        assert httpx.post(f"{base}/api/v1/auth/signup", json={"email": "a@example.com", "password": "long-enough-pw"})
        token = httpx.post(
            f"{base}/api/v1/auth/token", data={"username": "a@example.com", "password": "long-enough-pw"}
        ).json()["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        forged = jwt.encode(claims, "changethis", algorithm="HS256")
        assert httpx.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401

        # Failing to start (the port is taken) is one line naming the setting, and stops nothing.
        clash = _serve(data_dir, port)
        assert clash.wait(timeout=60) == 1
        assert clash.stderr is not None
        assert clash.stderr.read() == f"bosun: port {port} (PORT or --port) is already in use on 127.0.0.1\n"

        # A second server on another port (PORT from the environment) starts, shares the key, and stops.
        second = _serve(data_dir, None, PORT=str(other_port))
        try:
            _wait_ready(other_port, second)
            me = httpx.get(
                f"http://127.0.0.1:{other_port}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}
            )
            assert me.status_code == 200
        finally:
            second.terminate()
            assert second.wait(timeout=30) in (0, 128 + 15)

        # The first server's database is still there.
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    finally:
        first.terminate()
        first.wait(timeout=30)
    assert not (data_dir / "postmaster.pid").exists(), "the last server to leave did not stop the database"


def test_docs_name_every_poe_task_once() -> None:
    """Getting started's "Other tasks" paragraph lists each task of pyproject.toml once (no merged duplicate)."""
    root = Path(__file__).resolve().parents[1]
    tasks = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["poe"]["tasks"])
    page = (root / "docs" / "getting-started.md").read_text()
    paragraph = page[page.index("Other tasks (`uv run poe <task>`)") :].split("\n\n", 1)[0]
    named = [name for name in re.findall(r"`([\w-]+)`", paragraph) if name in tasks]
    assert sorted(named) == sorted(tasks), paragraph
    assert paragraph.count("CI runs `.ci/run`") == 1
