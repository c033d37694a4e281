"""Tasks: the table and its API shapes."""

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field as PydanticField
from sqlalchemy import DateTime, Index
from sqlmodel import Field, Relationship, SQLModel

from app.models.common import InputModel, Name, Ref, Text, enum_type, omittable, utc_now
from app.models.projects import Project
from app.models.users import User, UserRef


class TaskStatus(StrEnum):
    todo = "todo"
    in_progress = "in_progress"
    done = "done"


class TaskPriority(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    urgent = "urgent"


# Each constraint once, for the table, its input shapes and its output.
TaskTitle = Annotated[Name, PydanticField(max_length=300)]
TaskDescription = Annotated[Text | None, PydanticField(max_length=10000)]


class TaskBase(SQLModel):
    title: TaskTitle
    description: TaskDescription = None
    status: TaskStatus = Field(default=TaskStatus.todo, sa_type=enum_type(TaskStatus, "task_status"))
    priority: TaskPriority = Field(default=TaskPriority.medium, sa_type=enum_type(TaskPriority, "task_priority"))
    due_date: date | None = None


class Task(TaskBase, table=True):
    __tablename__ = "tasks"
    __table_args__ = (
        Index("ix_tasks_project_id_created_at", "project_id", "created_at"),
        Index("ix_tasks_assignee_id_created_at", "assignee_id", "created_at"),
    )

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    project_id: uuid.UUID = Field(foreign_key="projects.id", ondelete="CASCADE")
    assignee_id: uuid.UUID | None = Field(default=None, foreign_key="users.id", ondelete="SET NULL")
    created_by_id: uuid.UUID = Field(foreign_key="users.id", ondelete="RESTRICT", index=True)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    version: int = 1

    project: Project = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    assignee: User | None = Relationship(sa_relationship_kwargs={"lazy": "raise", "foreign_keys": "[Task.assignee_id]"})
    created_by: User = Relationship(sa_relationship_kwargs={"lazy": "raise", "foreign_keys": "[Task.created_by_id]"})


class TaskCreate(InputModel):
    title: TaskTitle
    description: TaskDescription = None
    status: TaskStatus = TaskStatus.todo
    priority: TaskPriority = TaskPriority.medium
    assignee_id: uuid.UUID | None = None
    due_date: date | None = None


class TaskUpdate(InputModel):
    title: TaskTitle = omittable()
    description: TaskDescription = None
    status: TaskStatus = omittable()
    priority: TaskPriority = omittable()
    assignee_id: uuid.UUID | None = None
    due_date: date | None = None


class TaskPublic(TaskBase):
    id: uuid.UUID
    project: Ref
    assignee: UserRef | None
    created_by: UserRef
    created_at: datetime
    updated_at: datetime
    version: int
