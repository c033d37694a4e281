"""Failed logins and lock-outs, the shared memory of login throttling (every worker and replica reads the same rows)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index
from sqlmodel import Field, SQLModel

from app.models.common import utc_now


class _Counted(SQLModel):
    """A row of one throttle counter, named by its key, never stored in the clear."""

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    # HMAC-SHA256 (hex) under SECRET_KEY of "pair:<email>\0<address>", "account:<email>" or "client:<address>".
    key: str = Field(max_length=64)


class LoginFailure(_Counted, table=True):
    """One failed login, filed under a key."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_key_failed_at", "key", "failed_at"),
        Index("ix_login_failures_failed_at", "failed_at"),
    )

    failed_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class LoginLockout(_Counted, table=True):
    """A counter that reached its limit: attempts under its key are refused until `locked_until`.

    Kept for a while after it ends, so that the next lock-out of the same key lasts longer.
    """

    __tablename__ = "login_lockouts"
    __table_args__ = (
        Index("ix_login_lockouts_key_locked_until", "key", "locked_until"),
        Index("ix_login_lockouts_locked_until", "locked_until"),
    )

    locked_at: datetime = Field(sa_type=DateTime(timezone=True))
    locked_until: datetime = Field(sa_type=DateTime(timezone=True))
