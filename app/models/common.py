"""Shapes shared by every domain: timestamps, pages, references."""

import unicodedata
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, WithJsonSchema
from pydantic import Field as PydanticField
from sqlalchemy import Enum
from sqlmodel import SQLModel

from app.core.addresses import MAX_EMAIL_LENGTH, normalize_email
from app.core.text import unstorable_reason

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


def _storable(value: str) -> str:
    reason = unstorable_reason(value)
    if reason is not None:
        raise ValueError(reason)
    return value


def _invisible(char: str) -> bool:
    # Spaces, control characters and format characters (zero-width space, byte order mark, direction marks...).
    return char.isspace() or unicodedata.category(char) in ("Cc", "Cf")


def _name(value: str) -> str:
    value = _storable(value).strip()
    if all(_invisible(char) for char in value):
        raise ValueError("must contain a visible character (not only spaces or invisible characters)")
    return value


def _class_of(predicate: Callable[[str], bool]) -> str:
    """The body of a regex character class matching every character the predicate accepts (as ranges)."""
    # Every space, control and format character is in planes 0, 1 and 14 (Unicode 15): scanning only those keeps
    # this import fast.
    points = [point for plane in (0, 1, 14) for point in range(plane << 16, (plane + 1) << 16) if predicate(chr(point))]
    ranges: list[list[int]] = []
    for point in points:
        # Ranges of BMP characters only: a range of astral ones (two UTF-16 units each) is an error in a JavaScript
        # regex without the u flag, while single ones are valid everywhere.
        if ranges and ranges[-1][1] == point - 1 and point <= 0xFFFF:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])

    def escaped(point: int) -> str:
        # BMP characters as \uXXXX, which JavaScript and Python regexes read alike; others as themselves.
        return f"\\u{point:04x}" if point <= 0xFFFF else chr(point)

    return "".join(escaped(low) + (f"-{escaped(high)}" if high > low else "") for low, high in ranges)


# Every text an API client sends is one of these two types; the patterns tell clients (and the document) the same
# rules the validators apply.
Text = Annotated[str, AfterValidator(_storable), PydanticField(json_schema_extra={"pattern": "^[^\\u0000]*$"})]
"""Free text (descriptions, a person's name): any valid Unicode but NUL."""

Name = Annotated[
    str,
    AfterValidator(_name),
    PydanticField(
        min_length=1,
        json_schema_extra={"pattern": f"^[^\\u0000]*[^{_class_of(_invisible)}][^\\u0000]*$"},
        description="Surrounding spaces are dropped; at least one visible character (not a space, control or "
        "format character such as U+200B) must remain.",
    ),
]
"""The name or title of a thing: surrounding spaces are dropped, and a visible character must remain."""


# Emails are case-insensitive: stored and compared in lower case.
NormalizedEmail = Annotated[
    str,
    AfterValidator(normalize_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": MAX_EMAIL_LENGTH}),
]


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total number of matching items."""

    items: list[T]
    total: int
    limit: int
    offset: int


class InputModel(BaseModel):
    """Base of request bodies: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


def _nothing() -> None:
    return None


def omittable() -> Any:
    """A PATCH body field that may be omitted but not null: typed as its value, whose type validates a `null` sent
    (and refuses it); an omitted field is not set (model_fields_set) and the document shows only its type."""
    # A default_factory keeps `"default": null` out of the document (and, like any default, is not validated).
    return PydanticField(default_factory=_nothing)


class Ref(BaseModel):
    """A short reference to another object (id and name)."""

    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
