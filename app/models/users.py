"""Users: the table and its API shapes."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field as PydanticField
from pydantic import ValidationInfo, field_validator
from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

from app.core.passwords import MAX_LENGTH, MIN_LENGTH, password_problem
from app.models.common import InputModel, NormalizedEmail, Text, omittable, utc_now

FullName = Annotated[Text | None, PydanticField(max_length=200)]


class UserBase(SQLModel):
    email: str = Field(max_length=320)
    full_name: FullName = None


class User(UserBase, table=True):
    __tablename__ = "users"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    email: str = Field(max_length=320, unique=True)
    hashed_password: str | None = Field(default=None, max_length=255)
    external_id: str | None = Field(default=None, max_length=255, unique=True)
    is_active: bool = True
    is_superuser: bool = False
    # Local tokens carry it; bumped by a password change, which ends every earlier token.
    token_version: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


def _check_password(password: str, email: str | None = None) -> str:
    problem = password_problem(password, email)
    if problem is not None:
        raise ValueError(f"the password {problem}")
    return password


class UserCreate(InputModel):
    email: NormalizedEmail
    password: str = PydanticField(min_length=MIN_LENGTH, max_length=MAX_LENGTH)
    full_name: FullName = None

    @field_validator("password")
    @classmethod
    def _strong_password(cls, password: str, info: ValidationInfo) -> str:
        # The email is validated first (declared first), so it is here unless it was invalid.
        return _check_password(password, info.data.get("email"))


class UserUpdate(InputModel):
    email: NormalizedEmail = omittable()
    full_name: FullName = None


class PasswordChange(InputModel):
    current_password: str = PydanticField(min_length=1, max_length=MAX_LENGTH)
    new_password: str = PydanticField(min_length=MIN_LENGTH, max_length=MAX_LENGTH)

    # The account's email is checked by the service, which knows it.
    _strong_password = field_validator("new_password")(_check_password)


class UserPublic(UserBase):
    id: uuid.UUID
    is_active: bool
    is_superuser: bool
    created_at: datetime


class UserRef(UserBase):
    """A person as a task or project names them: who it is, not their account's state or roles."""

    id: uuid.UUID


class TokenResponse(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
