"""Alembic environment: async psycopg engine, one transaction under an advisory lock, with lock and statement
timeouts (rendered into `--sql` output too, so the SQL that squawk lints is the SQL that runs)."""

import asyncio
from typing import Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from sqlalchemy import Connection, pool
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import app.models  # noqa: F401  (registers every table on SQLModel.metadata)
from app.core.config import Settings, load_settings
from app.core.migration_timeouts import session_timeouts

# Any constant works; it only has to be the same for every Bosun migrator.
MIGRATION_LOCK_ID = 0x626F73756E  # "bosun"

config = context.config
target_metadata = SQLModel.metadata


def _settings() -> Settings:
    # Given by app.core.migrations; from the environment when the alembic command runs this file.
    settings = config.attributes.get("settings")
    return settings if isinstance(settings, Settings) else load_settings()


def _render_item(type_: str, obj: object, autogen_context: AutogenContext) -> str | Literal[False]:
    """Render SQLModel's AutoString as plain sa.String, so migrations do not depend on sqlmodel."""
    if type_ == "type" and isinstance(obj, AutoString):
        return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _prepare(settings: Settings) -> None:
    """Take the migration lock, then bound every later lock wait and statement.

    The lock is session-level, so it is still held inside Alembic's autocommit blocks (CREATE INDEX CONCURRENTLY);
    it is released when the connection closes. Concurrent upgrades (two pods, or a Job and a developer) wait here,
    then see the first one's result and have nothing left to do. The timeouts come after the lock, so waiting for
    another migrator is not cut short; they are session-wide, so they outlive the autocommit blocks' commits too.
    """
    context.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK_ID})")
    for statement in session_timeouts(settings):
        context.execute(statement)


def run_migrations_offline() -> None:
    """Emit SQL to stdout instead of running it (`alembic upgrade --sql`); needs no database."""
    context.configure(
        dialect_name="postgresql",
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        _prepare(_settings())
        context.run_migrations()


def _run(connection: Connection, settings: Settings) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, render_item=_render_item
    )
    with context.begin_transaction():
        _prepare(settings)
        context.run_migrations()


async def run_migrations_online() -> None:
    settings = _settings()
    # NullPool: the connection really closes at the end, which releases the session-level migration lock.
    engine = create_async_engine(settings.database_url, poolclass=pool.NullPool)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run, settings)
    finally:
        await engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(run_migrations_online())
