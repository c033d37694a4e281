"""Liveness and readiness probes (unversioned, not in the OpenAPI document)."""

import asyncio
import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from opentelemetry.instrumentation.utils import suppress_instrumentation
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, ProgrammingError

from app.core.db import Database
from app.core.errors import problem_response
from app.core.migrations import code_heads

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 3.0


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up; says nothing about the database."""
    return {"status": "ok"}


async def _schema_revisions(database: Database) -> set[str]:
    # Probes run every few seconds: keep their queries out of the traces (their server spans are excluded too).
    with suppress_instrumentation():
        return await _read_revisions(database)


async def _read_revisions(database: Database) -> set[str]:
    async with database.engine.connect() as connection:
        try:
            rows = await connection.execute(text("SELECT version_num FROM alembic_version"))
        except ProgrammingError:  # no alembic_version table: nothing migrated yet
            return set()
        return {row[0] for row in rows}


@router.get("/readyz")
async def readyz(request: Request) -> Response:
    """Ready when the database answers and its schema is at the code's migration head."""
    database: Database = request.app.state.database
    try:
        revisions = await asyncio.wait_for(_schema_revisions(database), READINESS_TIMEOUT_SECONDS)
    except (TimeoutError, DBAPIError, OSError) as exc:
        logger.warning("not ready: database unreachable: %s", exc)
        return problem_response(503, "The database is unreachable.", slug="not-ready")
    expected = code_heads()
    if revisions != expected:
        current = ", ".join(sorted(revisions)) or "empty"
        detail = f"The database schema is at {current}; this code needs {', '.join(sorted(expected))}: run migrations."
        return problem_response(503, detail, slug="not-ready")
    return JSONResponse({"status": "ready", "database": "ok", "schema": ", ".join(sorted(revisions))})
