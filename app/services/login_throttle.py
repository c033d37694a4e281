"""Login throttling that slows attackers down without handing them a way to lock an account's owner out.

Failed attempts count against three keys: the account from this client address (a low limit: the owner's own
typos, or one address guessing), the account from anywhere (a much higher limit, which only an attack from many
addresses reaches) and the client address (one address trying many accounts). A key that reaches its limit within
the window is locked out: every attempt under it gets 429 until the lock-out ends, even with the right password.
Each lock-out lasts the window, doubled for every earlier one of the same key still remembered, at most
LOGIN_LOCKOUT_MAX_SECONDS. So a stranger's wrong passwords lock only their own address out of the account, while
its owner, from an address that has not failed, logs in.

Failures and lock-outs live in the database, the one store every worker and replica shares. Keys are HMACs under
SECRET_KEY, so the tables hold neither the emails people tried nor their addresses. Which key refused an attempt is
never said: every refusal has the same message and takes the same path, for known and unknown emails alike.
"""

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import DateTime, Insert, Integer, String, bindparam, column, delete, func, insert, true, values
from sqlalchemy import select as sa_select
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import Settings
from app.core.errors import TooManyRequests
from app.models.common import utc_now
from app.models.login_failures import LoginFailure, LoginLockout


@dataclass(frozen=True)
class LoginKeys:
    """The three counters one login attempt counts against."""

    pair: str
    account: str
    client: str

    @property
    def owned(self) -> tuple[str, str]:
        """The counters a successful login of the account resets (not the address's, which spans accounts)."""
        return self.pair, self.account


def login_keys(settings: Settings, email: str, client: str | None) -> LoginKeys:
    """The stored keys of an attempt at this email from this client address."""
    secret = settings.SECRET_KEY.get_secret_value().encode()

    def key(value: str) -> str:
        return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()

    account, address = email.strip().lower(), client or "unknown"
    # NUL cannot occur in either part (forms refuse it, addresses have none): the pair's parts never run together.
    return LoginKeys(
        pair=key(f"pair:{account}\x00{address}"), account=key(f"account:{account}"), client=key(f"client:{address}")
    )


def limits(settings: Settings, keys: LoginKeys) -> tuple[tuple[str, int], ...]:
    """Each key with the failures it may have within the window before it is locked out."""
    return (
        (keys.pair, settings.LOGIN_FAILURES_PER_ACCOUNT_AND_CLIENT),
        (keys.account, settings.LOGIN_FAILURES_PER_ACCOUNT),
        (keys.client, settings.LOGIN_FAILURES_PER_CLIENT),
    )


def lockout_schedule(window: int, longest: int) -> tuple[int, ...]:
    """How long a key's lock-outs last, in seconds, by how many earlier ones it remembers (the last entry for any
    more): the window, doubled for each earlier lock-out, at most `longest`."""
    schedule = [min(window, longest)]
    while schedule[-1] < longest:
        schedule.append(min(schedule[-1] * 2, longest))
    return tuple(schedule)


def retry_after(locked_until: datetime, now: datetime) -> int:
    """Whole seconds until a lock-out ends, at least 1 (Retry-After)."""
    return max(1, math.ceil((locked_until - now).total_seconds()))


async def check(session: AsyncSession, keys: LoginKeys) -> None:
    """Raise TooManyRequests (with the seconds to wait) while any of the attempt's keys is locked out."""
    now = utc_now()
    query = select(func.max(LoginLockout.locked_until)).where(
        col(LoginLockout.key).in_((keys.pair, keys.account, keys.client)), col(LoginLockout.locked_until) > now
    )
    locked_until = (await session.exec(query)).one()
    if locked_until is not None:
        seconds = retry_after(locked_until, now)
        raise TooManyRequests(f"Too many failed logins; try again in {seconds} seconds.", retry_after=seconds)


def _lock_out_reached(
    key_limits: tuple[tuple[str, int], ...], since: datetime, now: datetime, schedule: tuple[int, ...]
) -> Insert:
    """One statement that locks out every key whose failures since `since` (and since its last lock-out ended)
    reached its limit, for as long as the schedule says after the lock-outs it remembers."""
    counted = values(column("key", String), column("lim", Integer), name="counted").data(list(key_limits))
    lasting = values(column("earlier", Integer), column("seconds", Integer), name="lasting").data(
        list(enumerate(schedule))
    )
    key = counted.c.key
    locks = (
        select(func.max(LoginLockout.locked_until).label("last_ended"), func.count().label("earlier"))
        .where(col(LoginLockout.key) == key)
        .lateral("locks")
    )
    failures = (
        select(func.count())
        .where(
            col(LoginFailure.key) == key,
            col(LoginFailure.failed_at) > func.greatest(since, func.coalesce(locks.c.last_ended, since)),
        )
        .scalar_subquery()
    )
    locked_at = bindparam("now", now, type_=DateTime(timezone=True))
    locked_until = locked_at + func.make_interval(0, 0, 0, 0, 0, 0, lasting.c.seconds)
    chosen = (
        sa_select(key, locked_at, locked_until)
        .select_from(counted)
        .join(locks, true())
        .join(lasting, lasting.c.earlier == func.least(locks.c.earlier, len(schedule) - 1))
        .where(failures >= counted.c.lim)
    )
    return insert(LoginLockout).from_select(["key", "locked_at", "locked_until"], chosen)


async def record_failure(session: AsyncSession, settings: Settings, keys: LoginKeys) -> None:
    """File a failed attempt under its keys and lock out each key that reached its limit; forget failures that left
    the window and lock-outs that ended long enough ago."""
    now = utc_now()
    window, longest = settings.LOGIN_FAILURE_WINDOW_SECONDS, settings.LOGIN_LOCKOUT_MAX_SECONDS
    since = now - timedelta(seconds=window)
    forget_failures = delete(LoginFailure).where(col(LoginFailure.failed_at) <= since).cte("forget_failures")
    forgotten = now - timedelta(seconds=longest)
    await session.exec(delete(LoginLockout).where(col(LoginLockout.locked_until) <= forgotten).add_cte(forget_failures))
    key_limits = limits(settings, keys)
    await session.exec(insert(LoginFailure), params=[{"key": key, "failed_at": now} for key, _ in key_limits])
    # The same statements for every failure, whether or not it locks a key out, and whichever key.
    await session.exec(_lock_out_reached(key_limits, since, now, lockout_schedule(window, longest)))


async def clear_account(session: AsyncSession, keys: LoginKeys) -> None:
    """After a successful login the account starts afresh, from this address and everywhere: its failures and the
    lock-outs it remembers are forgotten (the address's own count stays: it spans accounts)."""
    forget_failures = delete(LoginFailure).where(col(LoginFailure.key).in_(keys.owned)).cte("forget_failures")
    statement = delete(LoginLockout).where(col(LoginLockout.key).in_(keys.owned)).add_cte(forget_failures)
    await session.exec(statement)
