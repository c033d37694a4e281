"""The `bosun` command: serve, migrate, openapi, create-superuser."""

import argparse
import asyncio
import getpass
import json
import os
import secrets
import shutil
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import OperationalError

from app.core.config import DEFAULT_SECRET_KEY, ConfigurationError, Settings, load_settings, validation_problems
from app.core.embedded_postgres import DEFAULT_DATA_DIR
from app.core.ports import PortUnavailable, check_port_free

# What the image's ENTRYPOINT runs and `bosun serve --production` execs (a test keeps the two identical).
GUNICORN_ARGV = ["gunicorn", "--config", "python:app.gunicorn_conf", "app.main:create_app()"]


class CommandError(Exception):
    """A user mistake or an unusable environment: printed as one line, exit code 1 (detail, if any, after it)."""

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail


def _exit_on_signal(signum: int, frame: object) -> None:
    sys.exit(128 + signum)


def _pass_on(**values: str | int | None) -> None:
    """Set these settings (None: leave it as it is) in the environment, the one way they reach the processes this
    one starts: gunicorn, uvicorn's reload workers."""
    os.environ.update({name: str(value) for name, value in values.items() if value is not None})


def exec_production(args: argparse.Namespace) -> None:
    """Replace this process with gunicorn exactly as the image starts it."""
    _pass_on(HOST=args.host, PORT=args.port)
    load_settings(require_database=True)  # a bad configuration fails here in one line, before gunicorn starts
    gunicorn = shutil.which("gunicorn", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if gunicorn is None:
        raise CommandError("gunicorn is not installed")
    os.execv(gunicorn, GUNICORN_ARGV)  # noqa: S606  (fixed argv, no shell)


def _development_secret_key(data_dir: Path) -> str:
    """A random key kept in the development data folder, so local tokens are never signed with a public default."""
    path = data_dir.parent / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text().strip()
        if len(key) < 32:
            raise CommandError(
                f"{path} must hold a key of at least 32 characters (delete it to get a new one)"
            ) from None
        return key
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w") as file:
        file.write(key + "\n")
    return key


def _serve_settings(args: argparse.Namespace) -> Settings:
    """The settings of the development server: --host/--port over HOST/PORT, a kept key over the default one."""
    _pass_on(HOST=args.host, PORT=args.port)
    settings = load_settings()
    if settings.SECRET_KEY.get_secret_value() == DEFAULT_SECRET_KEY:
        key = _development_secret_key(args.data_dir or DEFAULT_DATA_DIR)
        _pass_on(SECRET_KEY=key)
        settings = settings.model_copy(update={"SECRET_KEY": SecretStr(key)})
    try:
        check_port_free(settings.HOST, settings.PORT, "PORT or --port")
        if settings.metrics_port:
            check_port_free(settings.HOST, settings.metrics_port, "METRICS_PORT")
    except PortUnavailable as exc:
        raise CommandError(str(exc)) from exc
    return settings


def cmd_serve(args: argparse.Namespace) -> None:
    if args.production:
        exec_production(args)
        return
    import uvicorn

    from app.core.embedded_postgres import EmbeddedPostgresUnavailable, start_embedded_postgres

    settings = _serve_settings(args)
    embedded = None
    if settings.DATABASE_URL is None:
        try:
            embedded = start_embedded_postgres(args.data_dir)
        except EmbeddedPostgresUnavailable as exc:
            raise CommandError(str(exc)) from exc
        _pass_on(DATABASE_URL=embedded.uri)
        settings = settings.model_copy(update={"DATABASE_URL": SecretStr(embedded.uri)})
        print(f"Embedded PostgreSQL running: {embedded.uri}", file=sys.stderr)
    # uvicorn re-raises SIGTERM after its graceful shutdown; turn it (and a closed terminal's SIGHUP) into SystemExit
    # so `finally` releases the database.
    signal.signal(signal.SIGTERM, _exit_on_signal)
    signal.signal(signal.SIGHUP, _exit_on_signal)
    try:
        _migrate(settings)
        base = f"http://{settings.HOST}:{settings.PORT}"
        print(f"Bosun API: {base}/api/v1  interactive docs: {base}/docs", file=sys.stderr)
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=settings.HOST,
            port=settings.PORT,
            reload=args.reload,
            access_log=False,
            log_config=None,
        )
    finally:
        if embedded is not None:
            embedded.release()


def _migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the database; any failure becomes one CommandError line (its traceback too at LOG_LEVEL=DEBUG)."""
    from alembic.util import CommandError as AlembicCommandError

    from app.core.migration_timeouts import describe_failure
    from app.core.migrations import upgrade

    try:
        upgrade(settings, revision)
    except AlembicCommandError as exc:
        raise CommandError(f"migration failed: {exc}") from exc
    except Exception as exc:
        if isinstance(exc, OperationalError) and exc.statement is None:
            raise  # no connection at all: main() says so in its own line
        detail = "".join(traceback.format_exception(exc)) if settings.LOG_LEVEL == "DEBUG" else None
        raise CommandError(f"migration failed: {describe_failure(exc, settings)}", detail=detail) from exc


def cmd_migrate(args: argparse.Namespace) -> None:
    _migrate(load_settings(require_database=True), args.revision)
    print(f"database migrated to {args.revision}", file=sys.stderr)


def openapi_document() -> str:
    """The OpenAPI document as committed in `openapi.json`: built from default settings, never the environment,
    so it is the same whoever writes it. The engine is never connected."""
    from app.main import create_app

    # Building the app opens nothing (resources come with its lifespan): no database settings needed.
    return json.dumps(create_app(Settings.from_mapping({})).openapi(), indent=2) + "\n"


def cmd_openapi(args: argparse.Namespace) -> None:
    document = openapi_document()
    if args.path in (None, "-"):
        sys.stdout.write(document)
        return
    try:
        Path(args.path).write_text(document)
    except OSError as exc:
        raise CommandError(f"cannot write {args.path}: {exc.strerror}") from exc
    print(f"OpenAPI document written to {args.path}", file=sys.stderr)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    if not sys.stdin.isatty():
        raise CommandError("no terminal to ask for the password: pass it with --password-stdin")
    password = getpass.getpass("Password: ")
    if password != getpass.getpass("Repeat password: "):
        raise CommandError("the passwords do not match")
    return password


def _check_email(email: str) -> str:
    from pydantic import TypeAdapter

    from app.models.common import NormalizedEmail

    try:
        return str(TypeAdapter(NormalizedEmail).validate_python(email))
    except ValidationError as exc:
        raise CommandError(f"email: {validation_problems(exc)}") from exc


async def _promote(settings: Settings, email: str) -> str | None:
    """Make an existing user a superuser; None when nobody has this email."""
    from app.core.db import Database
    from app.services import users as users_service

    database = Database(settings)
    try:
        async with database.session() as session:
            existing = await users_service.get_by_email(session, email)
            if existing is None:
                return None
            if existing.is_superuser:
                return f"{email} is already a superuser (its password is unchanged)"
            existing.is_superuser = True
            session.add(existing)
            return f"{email} already existed and is now a superuser (its password is unchanged)"
    finally:
        await database.dispose()


async def _create_superuser(settings: Settings, email: str, password: str) -> str:
    from app.core.db import Database
    from app.core.errors import DomainError
    from app.models.users import UserCreate
    from app.services import users as users_service

    try:
        data = UserCreate(email=email, password=password)
    except ValidationError as exc:
        raise CommandError(validation_problems(exc)) from exc
    database = Database(settings)
    try:
        async with database.session() as session:
            await users_service.create_user(session, data, is_superuser=True)
            return f"superuser {data.email} created"
    except DomainError as exc:
        raise CommandError(exc.detail) from exc
    finally:
        await database.dispose()


def cmd_create_superuser(args: argparse.Namespace) -> None:
    settings = load_settings(require_database=True)
    email = _check_email(args.email)
    # An existing user is promoted without asking for a password it would not use.
    message = asyncio.run(_promote(settings, email))
    if message is None:
        password = _read_password(args.password_stdin)
        message = asyncio.run(_create_superuser(settings, email, password))
    print(message, file=sys.stderr)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bosun", description="Bosun: team task tracking service.")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the development server (embedded PostgreSQL without DATABASE_URL)")
    serve.add_argument("--host", help="bind address (default: HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="API port (default: PORT, else 8000)")
    serve.add_argument(
        "--production", action="store_true", help="run gunicorn with uvicorn workers, exactly as the image does"
    )
    serve.add_argument("--reload", action="store_true", help="restart on code changes")
    serve.add_argument(
        "--data-dir", type=Path, default=None, help="embedded PostgreSQL data folder (default: .bosun/pgdata)"
    )
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations")
    migrate.add_argument("revision", nargs="?", default="head")
    migrate.set_defaults(handler=cmd_migrate)

    openapi = commands.add_parser("openapi", help="write the OpenAPI document (stdout without PATH)")
    openapi.add_argument("path", nargs="?")
    openapi.set_defaults(handler=cmd_openapi)

    superuser = commands.add_parser("create-superuser", help="create a superuser (or promote an existing user)")
    superuser.add_argument("--email", required=True)
    superuser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    superuser.set_defaults(handler=cmd_create_superuser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the `bosun` console script."""
    args = build_parser().parse_args(argv)
    try:
        args.handler(args)
    except (CommandError, ConfigurationError) as exc:
        print(f"bosun: {exc}", file=sys.stderr)
        if isinstance(exc, CommandError) and exc.detail:
            print(exc.detail, file=sys.stderr, end="")
        sys.exit(1)
    except OperationalError as exc:
        print(f"bosun: database error: {str(exc.orig).strip().splitlines()[0]}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
