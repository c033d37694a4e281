"""A connection pool whose waiting requests are served in the order they came.

SQLAlchemy's asyncio pool keeps idle connections in an `asyncio.Queue`, and a checkout first takes one without
waiting if it can. A connection given back wakes the oldest waiter, but any request reaching its checkout before
that waiter runs takes the connection instead, and the waiter queues again at the back: under load (more requests
than connections) some requests waited seconds while others went straight through. Here a connection given back
goes straight to the oldest waiter, and a checkout waits behind those already waiting.
SQLAlchemy has no public hook for the pool's queue: the names used here are checked in tests/test_library_internals.py.
"""

import asyncio
from collections import deque
from typing import Generic, TypeVar

from sqlalchemy.pool import AsyncAdaptedQueuePool
from sqlalchemy.util import await_
from sqlalchemy.util.queue import Empty, Full, QueueCommon

_T = TypeVar("_T")


class FairQueue(QueueCommon[_T], Generic[_T]):
    """The pool's idle connections, handed to waiting checkouts first come, first served."""

    def __init__(self, maxsize: int = 0, use_lifo: bool = False) -> None:
        self.maxsize = maxsize
        self.use_lifo = use_lifo
        self._items: deque[_T] = deque()
        self._waiters: deque[asyncio.Future[_T]] = deque()

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    def qsize(self) -> int:
        return len(self._items)

    def put_nowait(self, item: _T) -> None:
        if self._hand_over(item):
            return
        if self.full():
            raise Full()
        self._items.append(item)

    def _hand_over(self, item: _T) -> bool:
        """Give the item to the oldest checkout still waiting, if any."""
        while self._waiters:
            waiter = self._waiters.popleft()
            # A waiter that timed out or was cancelled, or whose event loop is gone, is skipped.
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(item)
                return True
        return False

    def put(self, item: _T, block: bool = True, timeout: float | None = None) -> None:
        self.put_nowait(item)  # the pool only returns connections it handed out: there is always room

    def get_nowait(self) -> _T:
        if not self._items:
            raise Empty()
        return self._items.pop() if self.use_lifo else self._items.popleft()

    def get(self, block: bool = True, timeout: float | None = None) -> _T:
        # Connections sit idle only while nobody waits (put_nowait hands them over), so taking one never jumps
        # the queue.
        if self._items or not block:
            return self.get_nowait()
        return await_(self._wait(timeout))

    async def _wait(self, seconds: float | None) -> _T:
        waiter: asyncio.Future[_T] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(seconds):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed over just as this checkout gave up: to the next in line, or kept even past maxsize (the
                # pool closes the surplus when the next connection comes back), never lost.
                item = waiter.result()
                if not self._hand_over(item):
                    self._items.append(item)
            else:
                waiter.cancel()
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
            if isinstance(exc, TimeoutError):
                raise Empty() from exc
            raise


class FairAsyncQueuePool(AsyncAdaptedQueuePool):
    """SQLAlchemy's asyncio queue pool, with waiting checkouts served in order."""

    _queue_class = FairQueue  # type: ignore[assignment]
    # Its log records belong with the other pools' (under "sqlalchemy", WARNING unless asked), not with the app's.
    _sqla_logger_namespace = "sqlalchemy.pool.impl.FairAsyncQueuePool"
