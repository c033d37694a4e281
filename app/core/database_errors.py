"""Which database failures mean what, so the API can answer them without knowing the database library."""

from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# A change the schema's constraints refuse: a conflict with existing data (409), never a bug (500).
CONFLICT_ERRORS: tuple[type[Exception], ...] = (IntegrityError,)
# A value the database cannot store (too long, malformed): input validation should have refused it first (422).
# psycopg raises UnicodeEncodeError itself, before sending, for text with no UTF-8 form (a lone surrogate).
DATA_ERRORS: tuple[type[Exception], ...] = (DataError, UnicodeEncodeError)
# The server is down or refuses connections (503); a deadlock or serialization failure is an OperationalError too,
# told apart by lost_a_race (409).
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError,)
# Every pooled connection stayed busy for DB_POOL_TIMEOUT: the service is overloaded, the database may be fine (503).
BUSY_ERRORS: tuple[type[Exception], ...] = (PoolTimeoutError,)
# What a probe's own connection attempt may raise while the database is unreachable.
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (TimeoutError, DBAPIError, OSError)


def database_message(exc: BaseException) -> str:
    """The database's one-line reason, for logs: never the DETAIL lines that can quote a row (hashes, personal data).

    The engine hides statement parameters (hide_parameters), so this and the exception's text are safe to log.
    """
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    primary = getattr(getattr(orig, "diag", None), "message_primary", None)
    if primary:
        return str(primary)
    # Client-side failures (connection refused, pool timeout) have no diagnostics and no row data.
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


# Deadlock and serialization failure: the transaction lost a race and was rolled back.
_CONCURRENCY_SQLSTATES = frozenset({"40P01", "40001"})


def lost_a_race(exc: BaseException) -> bool:
    """Whether the database rolled the transaction back because of a concurrent one (worth a retry)."""
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONCURRENCY_SQLSTATES
