"""The async engine, session factory and per-request statement counter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings


@dataclass
class QueryCounter:
    """SQL statements run while this counter is active (one per request)."""

    count: int = 0
    statements: list[str] = field(default_factory=list)


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


def _on_cursor_execute(*args: object) -> None:
    counter = _current_counter.get()
    if counter is not None:
        counter.count += 1
        statement = args[2]
        counter.statements.append(str(statement))


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
        event.listen(self.engine.sync_engine, "before_cursor_execute", _on_cursor_execute)
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
        await self.engine.dispose()
