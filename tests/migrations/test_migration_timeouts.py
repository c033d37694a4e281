"""Migrations run under lock and statement timeouts: a blocked migration fails fast, says why, changes nothing."""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from alembic import command
from pydantic import ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from app.core.config import Settings
from app.core.migration_timeouts import describe_timeout, session_timeouts
from app.core.migrations import code_heads, upgrade
from harness.api import make_settings
from harness.cluster import image_with_revision
from harness.migration_files import add_revision, copy_migrations
from harness.migration_lint import alembic_config
from harness.postgres import create_database, drop_database, libpq_url
from harness.releases import column_exists


@pytest.fixture
def migrated_url(admin_url: str) -> Iterator[str]:
    """A database at the code's head, for revisions added on top of it."""
    url = create_database(admin_url, "bosun_timeouts")
    upgrade(make_settings(url))
    yield url
    drop_database(admin_url, url)


@pytest.fixture
def migrations(tmp_path: Path) -> Path:
    return copy_migrations(tmp_path / "migrations")


@pytest.fixture
def reader(migrated_url: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """Another session with an open transaction that has read `tasks` (so it holds ACCESS SHARE on it)."""
    with psycopg.connect(libpq_url(migrated_url)) as conn:
        conn.execute("SELECT count(*) FROM tasks")
        yield conn
        conn.rollback()


def version(url: str) -> set[str]:
    with psycopg.connect(libpq_url(url)) as conn:
        return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}


def test_a_migration_blocked_by_a_lock_fails_fast_and_changes_nothing(
    migrations: Path, migrated_url: str, reader: psycopg.Connection[tuple[object, ...]]
) -> None:
    add_revision(
        migrations,
        """
        op.create_table("labels", sa.Column("id", sa.Uuid(), primary_key=True))
        op.add_column("tasks", sa.Column("estimate", sa.BigInteger(), nullable=True))
        """,
    )
    settings = make_settings(migrated_url, MIGRATION_LOCK_TIMEOUT=0.2)
    with pytest.raises(OperationalError) as failure:
        command.upgrade(alembic_config(migrations, settings), "head")
    message = describe_timeout(failure.value, settings)
    assert message is not None
    assert message.startswith("lock wait timeout: gave up after 0.2s (MIGRATION_LOCK_TIMEOUT)")
    assert "a lock on table tasks held by another transaction" in message
    assert "ALTER TABLE tasks ADD COLUMN estimate BIGINT" in message
    # Transactional DDL: the table created before the blocked statement is gone too.
    assert not column_exists(migrated_url, "tasks", "estimate")
    assert not column_exists(migrated_url, "labels", "id")
    assert version(migrated_url) == set(code_heads())
    # Once the reader is gone the same migration goes through.
    reader.rollback()
    command.upgrade(alembic_config(migrations, settings), "head")
    assert column_exists(migrated_url, "tasks", "estimate")


def test_a_long_statement_is_cancelled(migrations: Path, migrated_url: str) -> None:
    add_revision(migrations, 'op.execute("SELECT pg_sleep(5)")')
    settings = make_settings(migrated_url, MIGRATION_STATEMENT_TIMEOUT=0.1)
    with pytest.raises(OperationalError) as failure:
        command.upgrade(alembic_config(migrations, settings), "head")
    assert describe_timeout(failure.value, settings) == (
        "statement timeout: a statement ran longer than 0.1s (MIGRATION_STATEMENT_TIMEOUT) and was cancelled "
        "(statement: SELECT pg_sleep(5))"
    )
    assert version(migrated_url) == set(code_heads())


def test_bosun_migrate_says_it_was_a_lock_wait(migrated_url: str) -> None:
    """The last line of the migration Job's log (shown by the operator) says what happened, and the exit code is 1."""
    with psycopg.connect(libpq_url(migrated_url)) as blocker:
        blocker.execute("LOCK TABLE alembic_version IN ACCESS EXCLUSIVE MODE")
        env = {**os.environ, "DATABASE_URL": migrated_url, "MIGRATION_LOCK_TIMEOUT": "0.3"}
        bosun = os.path.join(os.path.dirname(sys.executable), "bosun")
        result = subprocess.run([bosun, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        blocker.rollback()
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "bosun: migration failed: lock wait timeout: gave up after 0.3s (MIGRATION_LOCK_TIMEOUT) waiting for a lock "
        "on table alembic_version held by another transaction; run the migration again when that transaction has "
        "ended (statement: SELECT alembic_version.version_num FROM alembic_version)"
    ]


def test_other_database_errors_are_not_called_timeouts(migrations: Path, migrated_url: str) -> None:
    add_revision(migrations, 'op.execute("SELECT no_such_function()")')
    settings = make_settings(migrated_url)
    with pytest.raises(DBAPIError) as failure:
        command.upgrade(alembic_config(migrations, settings), "head")
    assert describe_timeout(failure.value, settings) is None
    assert describe_timeout(ValueError("x"), settings) is None


@pytest.mark.parametrize(
    ("statement", "where"),
    [
        ("ALTER TABLE tasks ADD COLUMN x int", "a lock on table tasks held"),
        ('CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON ONLY public."My Tasks" (x)', "on table public.My Tasks held"),
        ("LOCK TABLE projects IN ACCESS EXCLUSIVE MODE", "on table projects held"),
        ("UPDATE tasks SET estimate = 0 WHERE estimate IS NULL", "on table tasks held"),
        ("SELECT pg_sleep(1)", "waiting for a lock held"),
        ("\x00" + "x" * 10_000, "waiting for a lock held"),
    ],
)
def test_the_lock_wait_message_names_the_table_when_it_can(statement: str, where: str) -> None:
    error = OperationalError(statement, {}, psycopg.errors.LockNotAvailable("canceling statement due to lock timeout"))
    message = describe_timeout(error, Settings.from_mapping({}))
    assert message is not None
    assert where in message
    assert "\n" not in message
    assert len(message) < 400


def test_timeouts_are_set_in_milliseconds() -> None:
    settings = Settings.from_mapping({"MIGRATION_LOCK_TIMEOUT": "2.5", "MIGRATION_STATEMENT_TIMEOUT": 600})
    assert session_timeouts(settings) == ["SET lock_timeout = '2500ms'", "SET statement_timeout = '600000ms'"]
    assert session_timeouts(Settings.from_mapping({})) == [
        "SET lock_timeout = '5000ms'",
        "SET statement_timeout = '300000ms'",
    ]


@pytest.mark.parametrize("value", ["0", "-1", "0.0001", "nan", "inf", "", "5s", "\x00", "1e308", "601"])
def test_bad_lock_timeouts_are_refused(value: str) -> None:
    """0 would mean "wait forever" to PostgreSQL; anything that is not a sane number of seconds is refused."""
    with pytest.raises(ValidationError, match="MIGRATION_LOCK_TIMEOUT"):
        Settings.from_mapping({"MIGRATION_LOCK_TIMEOUT": value})


def test_bad_statement_timeouts_are_refused() -> None:
    for value in ("0", "-5", "86401", "abc", [1]):
        with pytest.raises(ValidationError, match="MIGRATION_STATEMENT_TIMEOUT"):
            Settings.from_mapping({"MIGRATION_STATEMENT_TIMEOUT": value})


def test_a_failed_statement_is_one_line_and_debug_adds_the_traceback(migrated_url: str, tmp_path: Path) -> None:
    """`bosun migrate` says what failed (the database's error and the statement) in one line; the traceback follows
    it only at LOG_LEVEL=DEBUG."""
    source = image_with_revision(tmp_path / "image", "99990101", 'op.execute("ALTER TABLE no_such_table ADD x int")')
    bosun = os.path.join(os.path.dirname(sys.executable), "bosun")
    line = (
        'bosun: migration failed: relation "no_such_table" does not exist '
        "(statement: ALTER TABLE no_such_table ADD x int)"
    )
    outputs = {}
    for level in ("INFO", "DEBUG"):
        env = {**os.environ, "DATABASE_URL": migrated_url, "PYTHONPATH": str(source), "LOG_LEVEL": level}
        result = subprocess.run([bosun, "migrate"], env=env, capture_output=True, text=True, timeout=120)
        assert result.returncode == 1
        outputs[level] = result.stderr.splitlines()
    assert outputs["INFO"] == [line]
    debug = outputs["DEBUG"]
    assert line in debug
    assert "Traceback (most recent call last):" in debug[debug.index(line) + 1 :]
    assert version(migrated_url) == set(code_heads())
