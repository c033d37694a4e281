"""Requests waiting for a pooled connection get one in the order they asked, and none is lost on the way."""

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.util import greenlet_spawn
from sqlalchemy.util.queue import Empty, Full

from app.core.db import Database
from app.core.fair_pool import FairQueue
from harness.api import make_settings


def one_connection(database_url: str, timeout: float = 10.0) -> Database:
    return Database(make_settings(database_url, DB_POOL_SIZE=1, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=timeout))


async def test_requests_get_connections_in_the_order_they_asked(database_url: str) -> None:
    """Many requests, a few connections: each request gets one in its turn, none overtakes one that waited."""
    database = Database(make_settings(database_url, DB_POOL_SIZE=2, DB_MAX_OVERFLOW=0, DB_POOL_TIMEOUT=60))
    asked: list[int] = []
    served: list[int] = []

    async def request(number: int) -> None:
        async with database.session(read_only=True) as session:
            asked.append(number)
            connection = await session.connection()
            served.append(number)
            await connection.execute(text("SELECT 1"))

    async def client(first: int) -> None:
        for number in range(first, first + 1000, 20):  # one request after another, as a keep-alive client
            await request(number)

    try:
        async with database.engine.connect(), database.engine.connect():
            pass  # both connections open before the clients start: none is served by a connect finishing early
        await asyncio.gather(*(client(first) for first in range(20)))
        overtaken = sum(1 for position, number in enumerate(served) if number != asked[position])
        assert served == asked, f"{overtaken} of {len(served)} requests were overtaken"
    finally:
        await database.dispose()


async def test_a_checkout_that_waits_too_long_is_a_clear_error(database_url: str) -> None:
    database = one_connection(database_url, timeout=0.2)
    try:
        async with database.engine.connect() as holder:
            await holder.execute(text("SELECT 1"))
            with pytest.raises(PoolTimeout):
                await database.engine.connect()  # the API answers 503
        async with database.engine.connect() as again:  # the connection is still the pool's
            assert (await again.execute(text("SELECT 1"))).scalar_one() == 1
        assert database.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    finally:
        await database.dispose()


async def waiting_get(queue: FairQueue[str], seconds: float | None = None) -> "asyncio.Task[str]":
    """A checkout waiting in the queue (as the pool calls it: from its greenlet)."""
    task = asyncio.create_task(greenlet_spawn(queue.get, True, seconds))
    await asyncio.sleep(0)  # it is waiting now
    return task


async def test_a_connection_handed_to_a_checkout_that_gives_up_goes_to_the_next() -> None:
    queue: FairQueue[str] = FairQueue(maxsize=2)
    first, second = await waiting_get(queue), await waiting_get(queue, 10)
    queue.put_nowait("connection")  # handed to the first...
    first.cancel()  # ...which is cancelled before it runs (its client went away)
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await second == "connection"

    timed_out = await waiting_get(queue, 0.01)
    with pytest.raises(Empty):
        await timed_out
    queue.put_nowait("connection")
    assert queue.qsize() == 1 and queue.get(block=False) == "connection"  # nobody waits: kept for the next
    with pytest.raises(Empty):
        queue.get(block=False)


async def test_a_connection_handed_over_in_vain_is_kept_even_when_the_pool_is_full() -> None:
    """With overflow, the pool may fill up before a checkout that gave up can pass its connection on."""
    queue: FairQueue[str] = FairQueue(maxsize=1)
    giving_up = await waiting_get(queue, 10)
    queue.put_nowait("first")  # handed to the waiting checkout...
    queue.put_nowait("second")  # ...and another comes back with nobody waiting: the pool is full
    giving_up.cancel()
    with pytest.raises(asyncio.CancelledError):  # cancelled, not a pool error
        await giving_up
    assert queue.qsize() == 2  # kept past maxsize rather than lost
    with pytest.raises(Full):
        queue.put_nowait("third")  # the pool closes this one (an overflow connection)
