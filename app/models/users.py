"""Users: the table and its API shapes."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field as PydanticField
from sqlalchemy import DateTime
from sqlmodel import Field, SQLModel

from app.models.common import InputModel, NormalizedEmail, utc_now

FullName = Annotated[str | None, PydanticField(max_length=200)]


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
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class UserCreate(InputModel):
    email: NormalizedEmail
    password: str = PydanticField(min_length=8, max_length=128)
    full_name: FullName = None


class UserUpdate(InputModel):
    email: NormalizedEmail | None = None
    full_name: FullName = None


class PasswordChange(InputModel):
    current_password: str = PydanticField(min_length=1, max_length=128)
    new_password: str = PydanticField(min_length=8, max_length=128)


class UserPublic(UserBase):
    id: uuid.UUID
    is_active: bool
    is_superuser: bool
    created_at: datetime


class TokenResponse(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
