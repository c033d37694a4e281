"""Shapes shared by every domain: timestamps, pages, references."""

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr
from sqlalchemy import Enum
from sqlmodel import SQLModel

T = TypeVar("T")

# Deterministic constraint names, so migrations can refer to them.
SQLModel.metadata.naming_convention = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def enum_type(enum_class: type[StrEnum], name: str) -> Enum:
    """A VARCHAR column with a CHECK constraint for a Python enum (no native PostgreSQL type to migrate)."""
    return Enum(
        enum_class,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=20,
        values_callable=lambda members: [member.value for member in members],
    )


def utc_now() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def _normalize_email(value: str) -> str:
    return value.strip().lower()


# Emails are case-insensitive: stored and compared in lower case.
NormalizedEmail = Annotated[EmailStr, AfterValidator(_normalize_email)]


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total number of matching items."""

    items: list[T]
    total: int
    limit: int
    offset: int


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def reject_null(value: T | None) -> T:
    """For PATCH fields that may be omitted but not set to null."""
    if value is None:
        raise ValueError("may be omitted, but not null")
    return value


class Ref(BaseModel):
    """A short reference to another object (id and name)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
