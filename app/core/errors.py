"""Domain errors and their single mapping to RFC 9457 problem+json responses."""

from __future__ import annotations

import logging
from http import HTTPStatus

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://bosun.dev/problems/"


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


class DomainError(Exception):
    """Base of the errors services raise; each maps to one HTTP status."""

    status: HTTPStatus = HTTPStatus.BAD_REQUEST
    slug = "bad-request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(DomainError):
    pass


class NotAuthenticated(DomainError):
    status = HTTPStatus.UNAUTHORIZED
    slug = "not-authenticated"


class PermissionDenied(DomainError):
    status = HTTPStatus.FORBIDDEN
    slug = "permission-denied"


class NotFound(DomainError):
    status = HTTPStatus.NOT_FOUND
    slug = "not-found"


class Conflict(DomainError):
    status = HTTPStatus.CONFLICT
    slug = "conflict"


class PreconditionFailed(DomainError):
    status = HTTPStatus.PRECONDITION_FAILED
    slug = "precondition-failed"


class InvalidInput(DomainError):
    """Input that is well-formed but refers to something unusable (422)."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    slug = "validation-error"


class ServiceUnavailable(DomainError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "service-unavailable"


_SLUGS = {
    400: "bad-request",
    401: "not-authenticated",
    403: "permission-denied",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    412: "precondition-failed",
    422: "validation-error",
    503: "service-unavailable",
}


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    errors: list[ValidationIssue] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build a problem+json response."""
    problem = Problem(
        type=PROBLEM_BASE + (slug or _SLUGS.get(status, "error")),
        title=HTTPStatus(status).phrase,
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
    return problem_response(exc.status, exc.detail, slug=exc.slug, headers=headers)


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


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
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
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _database_unavailable)
