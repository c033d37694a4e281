"""The engine's bookkeeping: statement counts and timings stay right when statements fail; read-only sessions."""

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import ProgrammingError
from sqlmodel import select

from app.core.config import Settings
from app.core.db import Database, count_queries
from app.models.teams import Team


async def test_failed_statements_leave_no_timing_behind(settings: Settings) -> None:
    database = Database(settings)
    try:
        with count_queries() as counter:
            async with database.engine.connect() as connection:
                with pytest.raises(ProgrammingError):
                    await connection.execute(text("SELECT * FROM no_such_table"))
                await connection.rollback()
                await connection.execute(text("SELECT 1"))
                assert (await connection.get_raw_connection()).info["bosun_query_started"] == []
        assert counter.count == 2
    finally:
        await database.dispose()


async def test_a_read_only_session_ends_without_a_commit_but_keeps_what_it_was_given(settings: Settings) -> None:
    """Reads commit as they run, so the session's end commits nothing; a change it still holds is saved."""
    database = Database(settings)
    commits: list[object] = []
    event.listen(database.engine.sync_engine, "commit", commits.append)
    try:
        async with database.session(read_only=True) as session:
            connection = await session.connection()
            await connection.execute(text("SELECT 1"))
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None and driver.autocommit
        assert commits == []
        async with database.session(read_only=True) as session:
            session.add(Team(name="kept"))  # not flushed: the end of the session must save it
        async with database.session() as session:
            kept = (await session.exec(select(Team).where(Team.name == "kept"))).one()
            await session.delete(kept)
    finally:
        await database.dispose()
