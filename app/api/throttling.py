"""Attempts at an account's password (login, password change) are throttled the same way."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Request

from app.api.deps import DatabaseDep, SessionDep, SettingsDep
from app.core.errors import NotAuthenticated, PermissionDenied
from app.services import login_throttle


@asynccontextmanager
async def password_attempt(
    request: Request, session: SessionDep, database: DatabaseDep, settings: SettingsDep, email: str
) -> AsyncIterator[None]:
    """Refuse (429) while a counter of this attempt is locked out; file a failure when the password was wrong.

    A wrong password raises NotAuthenticated (login) or PermissionDenied (password change) inside the block.
    """
    keys = login_throttle.login_keys(settings, email, request.client.host if request.client else None)
    await login_throttle.check(session, keys)
    try:
        yield
    except (NotAuthenticated, PermissionDenied):
        # Filed in a transaction of its own: this request's transaction rolls back with the error.
        async with database.session() as own:
            await login_throttle.record_failure(own, settings, keys)
        raise
    await login_throttle.clear_account(session, keys)
