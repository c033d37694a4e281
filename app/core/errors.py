"""Domain errors: plain exceptions the services raise, each kind carrying its problem type, title and status.

How they are rendered (RFC 9457 problem+json) is the API's business: see app/api/errors.py.
"""

from http import HTTPStatus
from typing import ClassVar


class DomainError(Exception):
    """Base of the errors services raise; `detail` says what went wrong in this case."""

    status: ClassVar[HTTPStatus] = HTTPStatus.BAD_REQUEST
    # The problem type: the last segment of its URI.
    slug: ClassVar[str] = "bad-request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def title(self) -> str:
        """The problem's short summary: the phrase of its status."""
        return self.status.phrase


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


class Gone(DomainError):
    """Something that existed and can no longer be used (an expired or revoked invitation)."""

    status = HTTPStatus.GONE
    slug = "gone"


class StaleVersion(DomainError):
    """A change based on a version of the resource that is no longer current."""

    status = HTTPStatus.PRECONDITION_FAILED
    slug = "precondition-failed"


class InvalidInput(DomainError):
    """Input that is well-formed but refers to something unusable."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY
    slug = "validation-error"


class TooManyRequests(DomainError):
    """Refused for a while; retry_after says how many seconds."""

    status = HTTPStatus.TOO_MANY_REQUESTS
    slug = "too-many-requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class DatabaseUnavailable(DomainError):
    """The database cannot be reached (or does not answer in time)."""

    status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "service-unavailable"


# Every kind, for the API's single mapping of statuses to problem types.
DOMAIN_ERRORS: tuple[type[DomainError], ...] = (
    BadRequest,
    NotAuthenticated,
    PermissionDenied,
    NotFound,
    Conflict,
    Gone,
    StaleVersion,
    InvalidInput,
    TooManyRequests,
    DatabaseUnavailable,
)
