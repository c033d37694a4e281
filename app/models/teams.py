"""Teams and memberships: the tables and their API shapes."""

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field as PydanticField
from sqlalchemy import DateTime, UniqueConstraint
from sqlmodel import Field, Relationship, SQLModel

from app.models.common import InputModel, Name, NormalizedEmail, enum_type, utc_now
from app.models.users import User, UserPublic


class TeamRole(StrEnum):
    owner = "owner"
    admin = "admin"
    member = "member"

    @property
    def can_manage(self) -> bool:
        """Owners and admins manage members and projects."""
        return self in (TeamRole.owner, TeamRole.admin)


TeamName = Annotated[Name, PydanticField(max_length=200)]


class TeamBase(SQLModel):
    name: TeamName


class Team(TeamBase, table=True):
    __tablename__ = "teams"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class Membership(SQLModel, table=True):
    __tablename__ = "memberships"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    team_id: uuid.UUID = Field(foreign_key="teams.id", ondelete="CASCADE")
    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", index=True)
    role: TeamRole = Field(sa_type=enum_type(TeamRole, "team_role"))
    joined_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))

    user: User = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    team: Team = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class TeamCreate(InputModel):
    name: TeamName


class TeamPublic(TeamBase):
    id: uuid.UUID
    created_at: datetime
    role: TeamRole


class MemberCreate(InputModel):
    email: NormalizedEmail
    role: TeamRole = TeamRole.member


class MemberPublic(SQLModel):
    user: UserPublic
    role: TeamRole
    joined_at: datetime


class TeamDetail(TeamPublic):
    members: list[MemberPublic]
