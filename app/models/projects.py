"""Projects: the table and its API shapes."""

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import Field as PydanticField
from sqlalchemy import DateTime, Index
from sqlmodel import Field, Relationship, SQLModel

from app.models.common import InputModel, Name, Ref, Text, omittable, utc_now
from app.models.teams import Team
from app.models.users import User, UserRef

# Each constraint once, for the table, its input shapes and its output.
ProjectName = Annotated[Name, PydanticField(max_length=200)]
ProjectDescription = Annotated[Text | None, PydanticField(max_length=5000)]


class ProjectBase(SQLModel):
    name: ProjectName
    description: ProjectDescription = None


class Project(ProjectBase, table=True):
    __tablename__ = "projects"
    __table_args__ = (Index("ix_projects_team_id_created_at", "team_id", "created_at"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    team_id: uuid.UUID = Field(foreign_key="teams.id", ondelete="CASCADE")
    created_by_id: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    version: int = 1

    team: Team = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    created_by: User = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class ProjectCreate(InputModel):
    name: ProjectName
    description: ProjectDescription = None


class ProjectUpdate(InputModel):
    name: ProjectName = omittable()
    description: ProjectDescription = None


class TaskCounts(SQLModel):
    todo: int = 0
    in_progress: int = 0
    done: int = 0


class ProjectPublic(ProjectBase):
    id: uuid.UUID
    team: Ref
    created_by: UserRef
    task_counts: TaskCounts
    created_at: datetime
    updated_at: datetime
    version: int
