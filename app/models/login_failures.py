"""Failed logins, the shared memory of login throttling (every worker and replica reads the same rows)."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Index
from sqlmodel import Field, SQLModel

from app.models.common import utc_now


class LoginFailure(SQLModel, table=True):
    """One failed login, filed under a key: an account or a client address, never stored in the clear."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_key_failed_at", "key", "failed_at"),
        Index("ix_login_failures_failed_at", "failed_at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=BigInteger)
    # HMAC-SHA256 (hex) of "account:<email>" or "client:<address>" under SECRET_KEY.
    key: str = Field(max_length=64)
    failed_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
