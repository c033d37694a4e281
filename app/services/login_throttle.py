"""Login throttling: too many failed logins for an account, or from a client address, within a window get 429.

The failures live in the database, the one store every worker and replica shares. Keys are HMACs under
SECRET_KEY, so the table holds neither the emails people tried nor their addresses.
"""

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.errors import TooManyRequests
from app.models.common import utc_now
from app.models.login_failures import LoginFailure


@dataclass(frozen=True)
class LoginKeys:
    """The two counters one login attempt counts against."""

    account: str
    client: str


def login_keys(settings: Settings, email: str, client: str | None) -> LoginKeys:
    """The stored keys of an attempt at this email from this client address."""
    secret = settings.SECRET_KEY.get_secret_value().encode()

    def key(value: str) -> str:
        return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()

    return LoginKeys(account=key(f"account:{email.strip().lower()}"), client=key(f"client:{client or 'unknown'}"))


async def _retry_at(session: AsyncSession, key: str, limit: int, since: datetime, window: timedelta) -> datetime | None:
    """When the key drops below its limit again, or None when it is below already."""
    # The limit-th most recent failure in the window: once it leaves the window, one more attempt is allowed.
    query = (
        select(LoginFailure.failed_at)
        .where(LoginFailure.key == key, col(LoginFailure.failed_at) > since)
        .order_by(col(LoginFailure.failed_at).desc())
        .offset(limit - 1)
        .limit(1)
    )
    failed_at = (await session.exec(query)).first()
    return failed_at + window if failed_at is not None else None


async def check(session: AsyncSession, settings: Settings, keys: LoginKeys) -> None:
    """Raise TooManyRequests (with the seconds to wait) while the account or the client is over its limit."""
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    now = utc_now()
    limits = ((keys.account, settings.LOGIN_FAILURES_PER_ACCOUNT), (keys.client, settings.LOGIN_FAILURES_PER_CLIENT))
    waits = [await _retry_at(session, key, limit, now - window, window) for key, limit in limits]
    latest = max((at for at in waits if at is not None), default=None)
    if latest is not None:
        seconds = max(1, math.ceil((latest - now).total_seconds()))
        raise TooManyRequests(f"Too many failed logins; try again in {seconds} seconds.", retry_after=seconds)


async def record_failure(session: AsyncSession, settings: Settings, keys: LoginKeys) -> None:
    """File a failed login under both keys, and forget failures that have left the window."""
    now = utc_now()
    expired = now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    await session.exec(delete(LoginFailure).where(col(LoginFailure.failed_at) <= expired))
    session.add_all([LoginFailure(key=keys.account, failed_at=now), LoginFailure(key=keys.client, failed_at=now)])
    await session.flush()


async def clear_account(session: AsyncSession, keys: LoginKeys) -> None:
    """After a successful login the account starts afresh (the client's count stays)."""
    await session.exec(delete(LoginFailure).where(col(LoginFailure.key) == keys.account))
