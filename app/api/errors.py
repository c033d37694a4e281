"""The one mapping of errors to RFC 9457 problem+json responses, and their description in the OpenAPI document."""

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.database_errors import CONFLICT_ERRORS, UNAVAILABLE_ERRORS
from app.core.errors import DOMAIN_ERRORS, DomainError, NotAuthenticated

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://bosun.dev/problems/"

# Problem types by status, for errors that are not domain errors (routing, validation, the database).
_SLUGS = {int(error.status): error.slug for error in DOMAIN_ERRORS} | {405: "method-not-allowed"}


class ValidationIssue(BaseModel):
    """One invalid input: where it is, what is wrong, and the error type."""

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem detail."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[ValidationIssue] | None = None


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    errors: list[ValidationIssue] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build a problem+json response (type and title from the status unless given)."""
    problem = Problem(
        type=PROBLEM_BASE + (slug or _SLUGS.get(status, "error")),
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        errors=errors,
    )
    return JSONResponse(
        problem.model_dump(exclude_none=True),
        status_code=status,
        headers=headers,
        media_type=PROBLEM_CONTENT_TYPE,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries documenting problem+json errors."""
    return {
        status: {
            "model": Problem,
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_CONTENT_TYPE: {}},
        }
        for status in statuses
    }


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, NotAuthenticated) else None
    return problem_response(exc.status, exc.detail, slug=exc.slug, title=exc.title, headers=headers)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route matches {request.url.path}"
    return problem_response(exc.status_code, detail, headers=dict(exc.headers) if exc.headers else None)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [
        ValidationIssue(
            loc=list(err.get("loc", ())),
            msg=str(err.get("msg", "")),
            type=str(err.get("type", "")),
        )
        for err in exc.errors()
    ]
    detail = "The request is not valid"
    if issues:
        first = issues[0]
        detail += f": {'.'.join(str(part) for part in first.loc)}: {first.msg}"
        if len(issues) > 1:
            detail += f" (and {len(issues) - 1} more, see errors)"
    return problem_response(422, detail + ".", errors=issues)


async def _conflicting_change(request: Request, exc: Exception) -> JSONResponse:
    logger.info("integrity error mapped to 409: %s", getattr(exc, "orig", exc))
    return problem_response(409, "The change conflicts with existing data.")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    logger.error("database unavailable: %s", exc)
    return problem_response(
        503,
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": "5"},
    )


def unexpected_error_response() -> JSONResponse:
    """The 500 answer for a bug: says nothing about the internals (the log has the traceback)."""
    return problem_response(500, "An unexpected error occurred.", slug="internal-error")


def install_error_handlers(app: FastAPI) -> None:
    """Map every expected error to problem+json; unexpected ones are answered by RequestContextMiddleware."""
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for error in CONFLICT_ERRORS:
        app.add_exception_handler(error, _conflicting_change)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
