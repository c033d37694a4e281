"""Which database failures mean what, so the API can answer them without knowing the database library."""

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

# A change the schema's constraints refuse: a conflict with existing data (409), never a bug (500).
CONFLICT_ERRORS: tuple[type[Exception], ...] = (IntegrityError,)
# The server is down, refuses connections or the pool has none free in time (503).
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (OperationalError, PoolTimeoutError)
# What a probe's own connection attempt may raise while the database is unreachable.
UNREACHABLE_ERRORS: tuple[type[Exception], ...] = (TimeoutError, DBAPIError, OSError)
