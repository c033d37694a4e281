"""Recently read rows, reused by read-only requests for a bounded time (the user a token names, on every request).

A read-only session (GET, HEAD, OPTIONS) may take a row by primary key from here instead of the database when it
was read at most `ttl` seconds ago; write sessions always read the database, and a row a write session of this
process changes is dropped at once. So a change made elsewhere (another worker, another pod, SQL by hand) reaches
read requests within `ttl` seconds. Only column values are kept: each session gets its own instance.
"""

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, make_transient_to_detached
from sqlmodel.ext.asyncio.session import AsyncSession

T = TypeVar("T")

SESSION_KEY = "bosun_row_cache"  # session.info entry of a read-only session: the cache it may read


class RowCache:
    """Column values of rows by (class, primary key), each for `ttl` seconds; at most `size` rows."""

    def __init__(self, ttl: float, size: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock  # replaceable, for tests
        self._rows: OrderedDict[tuple[type, object], tuple[float, dict[str, Any]]] = OrderedDict()

    def get(self, cls: type, key: object) -> dict[str, Any] | None:
        entry = self._rows.get((cls, key))
        if entry is None:
            return None
        if self.clock() - entry[0] > self.ttl:
            del self._rows[(cls, key)]
            return None
        return entry[1]

    def put(self, instance: object) -> None:
        key = _key(instance)
        if key is None:
            return
        state = inspect(instance)
        values = {attr.key: attr.value for attr in state.attrs if attr.key in state.mapper.column_attrs}
        self._rows[key] = (self.clock(), values)
        self._rows.move_to_end(key)
        while len(self._rows) > self.size:
            self._rows.popitem(last=False)

    def forget(self, instance: object) -> None:
        key = _key(instance)
        if key is not None:
            self._rows.pop(key, None)

    def watch(self, session: AsyncSession) -> None:
        """Drop the rows that this (writing) session changes or deletes, as it flushes them."""
        event.listen(session.sync_session, "after_flush", self._forget_flushed)

    def _forget_flushed(self, session: Session, *_: object) -> None:
        for instance in (*session.dirty, *session.deleted):
            self.forget(instance)


def _key(instance: object) -> tuple[type, object] | None:
    identity = inspect(instance).identity
    if identity is None:
        return None
    return type(instance), identity[0] if len(identity) == 1 else identity


async def get_recent(session: AsyncSession, cls: type[T], key: object) -> T | None:
    """`session.get(cls, key)`; in a read-only session, from the rows read at most the cache's ttl ago."""
    cache: RowCache | None = session.info.get(SESSION_KEY)
    if cache is None or cache.ttl <= 0:
        return await session.get(cls, key)
    values = cache.get(cls, key)
    if values is None:
        instance = await session.get(cls, key)
        if instance is not None:
            cache.put(instance)
        return instance
    mapper = inspect(cls)
    known = session.identity_map.get(mapper.identity_key_from_primary_key((key,)))
    if known is not None:
        return known  # type: ignore[no-any-return]
    # Built as the ORM builds a loaded row (no __init__: no defaults, no validation, a third of the cost of a hit),
    # then made persistent without SQL once added.
    recent: T = mapper.class_manager.new_instance()  # not public API: tests/test_library_internals.py
    inspect(recent).dict.update(values)
    make_transient_to_detached(recent)
    session.add(recent)
    return recent
