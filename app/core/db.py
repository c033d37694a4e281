"""The async engine, session factory and per-request statement counter."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from sqlalchemy import Connection, event
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core import metrics
from app.core.config import Settings


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
    metrics.DB_QUERY_DURATION.labels(operation=operation).observe(time.perf_counter() - started)


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


class Database:
    """Owns the engine and hands out sessions; one per application instance."""

    def __init__(self, settings: Settings) -> None:
        self.engine: AsyncEngine = create_async_engine(
            settings.database_url,
            pool_size=settings.DB_POOL_SIZE,
            max_overflow=settings.DB_MAX_OVERFLOW,
            pool_timeout=settings.DB_POOL_TIMEOUT,
            pool_pre_ping=True,
            connect_args={"connect_timeout": settings.DB_CONNECT_TIMEOUT},
        )
        event.listen(self.engine.sync_engine, "before_cursor_execute", _before_cursor_execute)
        event.listen(self.engine.sync_engine, "after_cursor_execute", _after_cursor_execute)
        event.listen(self.engine.sync_engine, "handle_error", _discard_query_start)
        _watch_pool(self.engine)
        self._capacity = settings.DB_POOL_SIZE + settings.DB_MAX_OVERFLOW
        metrics.DB_POOL_CAPACITY.inc(self._capacity)
        self.sessionmaker = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commit when the caller finishes, roll back on error."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                raise

    async def dispose(self) -> None:
        """Close every pooled connection (shutdown)."""
        await self.engine.dispose()
        metrics.DB_POOL_CAPACITY.dec(self._capacity)
        self._capacity = 0
