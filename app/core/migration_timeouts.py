"""Timeouts for migrations, and the one line that says which one a failed migration hit.

Migrations run while the previous version still serves traffic. A DDL statement that waits for a lock (behind a
long transaction) makes every later query on that table queue behind it, so it must give up within seconds; the
`bosun migrate` output then has to say that it was a lock wait, because that last line is what an operator sees.
"""

import re

import psycopg
from sqlalchemy.exc import DBAPIError

from app.core.config import Settings
from app.core.database_errors import database_message

# The relation a DDL or DML statement works on: good enough to name the table in a one-line message.
_RELATION = re.compile(
    r"\b(?:ALTER\s+TABLE(?:\s+IF\s+EXISTS)?|LOCK(?:\s+TABLE)?|DROP\s+TABLE(?:\s+IF\s+EXISTS)?"
    r"|TRUNCATE(?:\s+TABLE)?|INSERT\s+INTO|UPDATE|DELETE\s+FROM|ON(?:\s+TABLE)?|FROM)(?:\s+ONLY)?\s+"
    r'((?:"[^"]+"|[a-z_][\w$]*)(?:\.(?:"[^"]+"|[a-z_][\w$]*))?)',
    re.IGNORECASE,
)
_STATEMENT_CHARS = 160


def _milliseconds(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def session_timeouts(settings: Settings) -> list[str]:
    """The SET statements that bound a migration's lock waits and statements (session-wide, so they also hold
    inside Alembic's autocommit blocks)."""
    return [
        f"SET lock_timeout = '{_milliseconds(settings.MIGRATION_LOCK_TIMEOUT)}ms'",
        f"SET statement_timeout = '{_milliseconds(settings.MIGRATION_STATEMENT_TIMEOUT)}ms'",
    ]


def _statement(text: str | None) -> str:
    one_line = " ".join((text or "").split())
    return one_line if len(one_line) <= _STATEMENT_CHARS else one_line[: _STATEMENT_CHARS - 3] + "..."


def _relation(statement: str | None) -> str | None:
    # PostgreSQL does not say which relation a lock timeout waited for: the statement does.
    match = _RELATION.search(statement or "")
    return match.group(1).replace('"', "") if match else None


def describe_timeout(exc: BaseException, settings: Settings) -> str | None:
    """One line saying that a migration hit its lock or statement timeout, or None for any other failure."""
    if not isinstance(exc, DBAPIError):
        return None
    statement = _statement(exc.statement)
    if isinstance(exc.orig, psycopg.errors.LockNotAvailable):
        table = _relation(exc.statement)
        where = f"a lock on table {table}" if table else "a lock"
        return (
            f"lock wait timeout: gave up after {settings.MIGRATION_LOCK_TIMEOUT:g}s (MIGRATION_LOCK_TIMEOUT) waiting "
            f"for {where} held by another transaction; run the migration again when that transaction has ended "
            f"(statement: {statement})"
        )
    if isinstance(exc.orig, psycopg.errors.QueryCanceled) and "statement timeout" in str(exc.orig):
        return (
            f"statement timeout: a statement ran longer than {settings.MIGRATION_STATEMENT_TIMEOUT:g}s "
            f"(MIGRATION_STATEMENT_TIMEOUT) and was cancelled (statement: {statement})"
        )
    return None


def describe_failure(exc: BaseException, settings: Settings) -> str:
    """One line for any failed migration: the timeout it hit, else the database's error and the statement."""
    timeout = describe_timeout(exc, settings)
    if timeout is not None:
        return timeout
    if isinstance(exc, DBAPIError):
        statement = _statement(exc.statement)
        return f"{database_message(exc)} (statement: {statement})" if statement else database_message(exc)
    # A mistake in a revision's own code: its first line (the traceback is for LOG_LEVEL=DEBUG).
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
