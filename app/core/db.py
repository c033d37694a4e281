"""The async engine, session factory and per-request statement counter.

Round trips are the cost of a request: a read-only request's session runs in autocommit (no BEGIN and no COMMIT
around its statements: under READ COMMITTED each statement has its own snapshot anyway), and a connection is
checked before use without a query (a server that went away has closed its socket, which a non-blocking read
sees at once) instead of SQLAlchemy's pre-ping SELECT.
The engine's dialect is imported with this module, not when the engine is made: gunicorn's master imports it
once (preload) instead of every worker as it starts.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import psycopg
from psycopg import pq
from sqlalchemy import Connection, event
from sqlalchemy.dialects.postgresql import psycopg as _psycopg_dialect  # noqa: F401
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import metrics
from app.core.config import Settings
from app.core.fair_pool import FairAsyncQueuePool
from app.core.row_cache import SESSION_KEY, RowCache


@dataclass
class QueryCounter:
    """SQL statements run while this counter is active (one per request)."""

    count: int = 0


_current_counter: ContextVar[QueryCounter | None] = ContextVar("bosun_query_counter", default=None)


@contextmanager
def count_queries() -> Iterator[QueryCounter]:
    """Count the SQL statements run inside this block (in this task and the tasks it starts)."""
    counter = QueryCounter()
    token = _current_counter.set(counter)
    try:
        yield counter
    finally:
        _current_counter.reset(token)


_OPERATIONS = frozenset({"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"})


def _before_cursor_execute(conn: Connection, cursor: object, statement: str, *args: object) -> None:
    counter = _current_counter.get()
    if counter is not None:
        counter.count += 1
    conn.info.setdefault("bosun_query_started", []).append(time.perf_counter())


def _after_cursor_execute(conn: Connection, cursor: object, statement: str, *args: object) -> None:
    started = conn.info["bosun_query_started"].pop()
    keyword = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
    operation = keyword if keyword in _OPERATIONS else "OTHER"
    metrics.labelled(metrics.DB_QUERY_DURATION, operation).observe(time.perf_counter() - started)


def _discard_query_start(context: ExceptionContext) -> None:
    """A failed statement gets no after_cursor_execute: drop its start time so the stack stays in step."""
    if context.connection is not None and context.execution_context is not None:
        started = context.connection.info.get("bosun_query_started")
        if started:
            started.pop()


def _watch_pool(engine: AsyncEngine) -> None:
    """Keep the pool gauges in step with the pool's own events."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "connect", lambda *_: metrics.DB_POOL_OPEN.inc())
    event.listen(sync_engine, "close", lambda *_: metrics.DB_POOL_OPEN.dec())
    event.listen(sync_engine, "checkout", lambda *_: metrics.DB_POOL_IN_USE.inc())
    event.listen(sync_engine, "checkin", lambda *_: metrics.DB_POOL_IN_USE.dec())


_SERVER_ENDED = "bosun_server_ended"


def _watch_for_goodbye(dbapi_connection: object, record: ConnectionPoolEntry) -> None:
    """Pool `connect`: remember when the server says it is ending the session (its FATAL comes as a notice)."""
    connection = getattr(dbapi_connection, "driver_connection", None)
    if isinstance(connection, psycopg.AsyncConnection):

        def notice(diagnostic: psycopg.errors.Diagnostic) -> None:
            if diagnostic.severity_nonlocalized in ("FATAL", "PANIC"):
                record.info[_SERVER_ENDED] = True

        connection.add_notice_handler(notice)


def _refuse_dead_connection(dbapi_connection: object, record: ConnectionPoolEntry, proxy: object) -> None:
    """Pool `checkout`: a connection whose server went away is replaced, without a round trip to find out.

    A server that stops, restarts or ends the session sends a FATAL message and closes the socket; reading what
    is pending without blocking sees either. The pool then opens a fresh connection (or raises when it cannot: a
    503). What no query can see either, a server ending the session at this very moment, still fails that request.
    """
    connection = getattr(dbapi_connection, "driver_connection", None)
    if not isinstance(connection, psycopg.AsyncConnection):
        return
    if connection.closed or connection.broken:
        raise DisconnectionError("connection closed")
    pgconn = connection.pgconn
    try:
        pgconn.consume_input()  # read what the server sent while the connection sat in the pool...
    except psycopg.OperationalError as exc:
        raise DisconnectionError(str(exc)) from exc
    pgconn.is_busy()  # ...and parse it: a FATAL message reaches the notice handler
    if record.info.get(_SERVER_ENDED):
        raise DisconnectionError("the server ended the session")
    if pgconn.status != pq.ConnStatus.OK or pgconn.transaction_status != pq.TransactionStatus.IDLE:
        raise DisconnectionError("connection not idle")


_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _has_changes(session: AsyncSession) -> bool:
    """Whether the session holds changes not yet flushed."""
    return bool(session.new or session.dirty or session.deleted)


async def release_connection(session: AsyncSession) -> None:
    """End the session's transaction, which has only read, so its pooled connection is free while the request
    waits on slow work that needs no database (a password hash); the next statement begins a new transaction.

    Without it, logins beyond the pool's size would queue for a connection behind each other's hashes. Call it only
    before the request writes: pending changes are refused, but a flushed write would be committed early.
    """
    if _has_changes(session):
        raise RuntimeError("release_connection: the session has changes that would be committed early")
    await session.commit()


def is_read_only(method: str) -> bool:
    """Requests with these methods change nothing: their session needs no transaction."""
    return method in _READ_ONLY_METHODS


class Database:
    """Owns the engine and hands out sessions; one per application instance."""

    def __init__(self, settings: Settings) -> None:
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=settings.DB_POOL_SIZE,
            max_overflow=settings.DB_MAX_OVERFLOW,
            pool_timeout=settings.DB_POOL_TIMEOUT,
            poolclass=FairAsyncQueuePool,  # requests waiting for a connection are served in order
            # A failed statement's parameters (password hashes, personal data) never reach an error message or log.
            hide_parameters=True,
            connect_args={"connect_timeout": settings.DB_CONNECT_TIMEOUT},
        )
        event.listen(self.engine.sync_engine, "connect", _watch_for_goodbye)
        event.listen(self.engine.sync_engine, "checkout", _refuse_dead_connection)
        event.listen(self.engine.sync_engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(self.engine.sync_engine, "after_cursor_execute", _after_cursor_execute)
        event.listen(self.engine.sync_engine, "handle_error", _discard_query_start)
        _watch_pool(self.engine)
        self._capacity = settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW
        metrics.DB_POOL_CAPACITY.inc(self._capacity)
        self.rows = RowCache(settings.USER_CACHE_SECONDS)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # The same pool; its connections in autocommit while a read-only session holds them.
        self.read_sessionmaker = async_sessionmaker(
            self.engine.execution_options(isolation_level="AUTOCOMMIT"),
            class_=AsyncSession,
            expire_on_commit=False,
            info={SESSION_KEY: self.rows},
        )

    @asynccontextmanager
    async def session(self, *, read_only: bool = False) -> AsyncIterator[AsyncSession]:
        """One transaction: commit when the caller finishes, roll back on error.

        read_only: for work that writes nothing (a GET): each statement commits by itself, so the session sends
        no BEGIN and no COMMIT, and it may read rows from the recent-row cache.
        """
        async with (self.read_sessionmaker if read_only else self.sessionmaker)() as session:
            if not read_only:
                self.rows.watch(session)
            try:
                yield session
                # A read-only session's statements committed as they ran: only changes not yet flushed need it.
                if not read_only or _has_changes(session):
                    await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        """Close every pooled connection (shutdown)."""
        await self.engine.dispose()
        metrics.DB_POOL_CAPACITY.dec(self._capacity)
        self._capacity = 0
