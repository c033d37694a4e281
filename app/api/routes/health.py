"""Liveness and readiness probes (unversioned, not in the OpenAPI document)."""

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from app.api.deps import DatabaseDep
from app.api.errors import problem_response
from app.core.errors import DatabaseUnavailable
from app.core.migrations import code_heads, code_revisions, schema_revisions, schema_state

router = APIRouter(include_in_schema=False)
logger = logging.getLogger(__name__)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up; says nothing about the database."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(database: DatabaseDep) -> Response:
    """Ready when the database answers and its schema is at the code's migration head, or ahead of it."""
    try:
        revisions = await schema_revisions(database.engine)
    except DatabaseUnavailable as exc:
        logger.warning("not ready: %s", exc.detail)
        return problem_response(503, "The database is unreachable.", slug="not-ready")
    expected = code_heads()
    state = schema_state(revisions, expected, code_revisions())
    current = ", ".join(sorted(revisions)) or "empty"
    if state == "behind":
        detail = f"The database schema is at {current}; this code needs {', '.join(sorted(expected))}: run migrations."
        return problem_response(503, detail, slug="not-ready")
    body = {"status": "ready", "database": "ok", "schema": current}
    if state == "ahead":  # a newer release migrated it; this one keeps serving until it is replaced
        body["code"] = ", ".join(sorted(expected))
    return JSONResponse(body)
