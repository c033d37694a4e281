"""The one mapping of errors to RFC 9457 problem+json responses, and their description in the OpenAPI document."""

import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.core.database_errors import (
    BUSY_ERRORS,
    CONFLICT_ERRORS,
    DATA_ERRORS,
    UNAVAILABLE_ERRORS,
    database_message,
    lost_a_race,
)
from app.core.errors import DOMAIN_ERRORS, DomainError, NotAuthenticated, TooManyRequests

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "https://bosun.dev/problems/"

# Problem types by status, for errors that are not domain errors (routing, validation, the database).
_SLUGS = {int(error.status): error.slug for error in DOMAIN_ERRORS} | {
    405: "method-not-allowed",
    413: "content-too-large",
    415: "unsupported-media-type",
}


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
    if isinstance(exc, TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return problem_response(exc.status, exc.detail, slug=exc.slug, title=exc.title, headers=headers)


def _endpoints(routes: Iterable[object]) -> Iterator[tuple[re.Pattern[str], set[str]]]:
    """(path pattern, methods) of every endpoint, including those of included routers."""
    for route in routes:
        pattern, methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if pattern is not None and methods:
            yield pattern, set(methods)
        # FastAPI's included routers keep their routes in `original_router` (not public API: see
        # tests/test_library_internals.py), Starlette's mounts in `routes`.
        nested = getattr(getattr(route, "original_router", None), "routes", None) or getattr(route, "routes", None)
        if nested:
            yield from _endpoints(nested)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at this request's path (Starlette's 405 names only the first route's)."""
    path = request.scope.get("path", "")
    methods = set().union(*(methods for pattern, methods in _endpoints(request.app.routes) if pattern.match(path)))
    return sorted(methods - {"HEAD"})


# FastAPI's answer to a body it cannot decode (not UTF-8, or not what the content type says).
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"No route matches {request.url.path}"
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        headers["Allow"] = ", ".join(allowed)
        detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
    if exc.status_code == 400:
        return _unreadable_body(detail)
    return problem_response(exc.status_code, detail, headers=headers or None)


def _unreadable_body(detail: str) -> JSONResponse:
    # Only body parsing raises a framework 400 (our own, for If-Match, is a BadRequest): like any invalid input, a body
    # that cannot be read (not JSON, or a broken or oversized form: "Missing boundary in multipart.",
    # "Too many fields. ...") is a 422 naming the body.
    if detail == _UNPARSABLE_BODY:
        issue = ValidationIssue(loc=["body"], msg="The body is not valid JSON (or not UTF-8).", type="json_invalid")
        return problem_response(422, "The request is not valid: the body is not valid JSON.", errors=[issue])
    issue = ValidationIssue(loc=["body"], msg=f"The form cannot be read: {detail}", type="form_invalid")
    return problem_response(422, f"The request is not valid: the form cannot be read: {detail}", errors=[issue])


def _issue(error: Mapping[str, Any]) -> ValidationIssue:
    loc, msg, kind = list(error.get("loc", ())), str(error.get("msg", "")), str(error.get("type", ""))
    if kind == "json_invalid":
        # FastAPI puts the character position where a field name would go (`body.8`): say it in words instead.
        position = loc[1] if len(loc) > 1 else "?"
        # Some of the json module's reasons end in "at" ("Invalid control character at"): said once.
        reason = str(error.get("ctx", {}).get("error", "JSON decode error")).removesuffix(" at")
        loc, msg = ["body"], f"The body is not valid JSON: {reason} at position {position}."
    elif kind in ("too_long", "too_short") and isinstance(error.get("input"), str):
        # A length bound on a validated text type gets pydantic's generic wording ("at most 320 items"): a string
        # has characters.
        ctx = error.get("ctx", {})
        bound, limit = ("at most", ctx.get("max_length")) if kind == "too_long" else ("at least", ctx.get("min_length"))
        kind, msg = f"string_{kind}", f"String should have {bound} {limit} character{'' if limit == 1 else 's'}"
    return ValidationIssue(loc=loc, msg=msg, type=kind)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    issues = [_issue(error) for error in exc.errors()]
    detail = "The request is not valid"
    if issues and issues[0].type == "json_invalid":
        detail += ": the body is not valid JSON"
    elif issues:
        first = issues[0]
        detail += f": {'.'.join(str(part) for part in first.loc)}: {first.msg}"
        if len(issues) > 1:
            detail += f" (and {len(issues) - 1} more, see errors)"
    return problem_response(422, detail + ".", errors=issues)


async def _conflicting_change(request: Request, exc: Exception) -> JSONResponse:
    logger.info("integrity error mapped to 409: %s", database_message(exc))
    return problem_response(409, "The change conflicts with existing data.")


async def _unstorable_value(request: Request, exc: Exception) -> JSONResponse:
    # A backstop: input validation should refuse such values first, with the field named.
    logger.warning("data error mapped to 422: %s", database_message(exc))
    return problem_response(422, "A value in the request cannot be stored (too long or malformed).")


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    if lost_a_race(exc):
        # A deadlock or serialization failure rolled the transaction back; the database is fine.
        logger.warning("concurrent change mapped to 409: %s", database_message(exc))
        return problem_response(
            409,
            "The change collided with a concurrent change and was not applied; try again.",
            headers={"Retry-After": "1"},
        )
    logger.error("database unavailable: %s", database_message(exc))
    return _unavailable("The database is unavailable; try again shortly.")


async def _too_busy(request: Request, exc: Exception) -> JSONResponse:
    logger.error("no database connection free within the pool timeout: %s", database_message(exc))
    return _unavailable("The service is too busy to take this request (all database connections in use); try again.")


def _unavailable(detail: str) -> JSONResponse:
    return problem_response(503, detail, headers={"Retry-After": "5"})


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
    for error in DATA_ERRORS:
        app.add_exception_handler(error, _unstorable_value)
    for error in UNAVAILABLE_ERRORS:
        app.add_exception_handler(error, _database_unavailable)
    for error in BUSY_ERRORS:
        app.add_exception_handler(error, _too_busy)
