"""The engine's bookkeeping: statement counts and timings stay right when statements fail."""

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

from app.core.config import Settings
from app.core.db import Database, count_queries


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
