"""Tasks: created in a project, visible to its team, assigned to team members."""

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased, joinedload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import InvalidInput, PermissionDenied
from app.models.common import Ref
from app.models.projects import Project
from app.models.tasks import Task, TaskCreate, TaskPriority, TaskPublic, TaskStatus, TaskUpdate
from app.models.teams import Membership, TeamRole
from app.models.users import User, UserRef
from app.services.concurrency import ExpectedVersions, apply_changes, bump_version, check_version
from app.services.projects import get_project
from app.services.rows import ListStatements, RowShape
from app.services.teams import is_member, is_member_clause, with_role

_EAGER = (
    joinedload(Task.project),  # type: ignore[arg-type]
    joinedload(Task.assignee),  # type: ignore[arg-type]
    joinedload(Task.created_by),  # type: ignore[arg-type]
)


@dataclass(frozen=True)
class Assignment:
    """An assignment to announce by email once the change has committed."""

    email: str
    full_name: str | None
    task_title: str
    project_name: str
    assigned_by: str


@dataclass(frozen=True)
class TaskFilters:
    status: TaskStatus | None = None
    priority: TaskPriority | None = None
    assignee_id: uuid.UUID | None = None


async def _assignee(session: AsyncSession, team_id: uuid.UUID, assignee_id: uuid.UUID) -> User:
    """The user to assign, who must belong to the project's team."""
    user = await session.get(User, assignee_id)
    if user is None or not await is_member(session, team_id, assignee_id):
        raise InvalidInput("The assignee must be a member of the project's team.")
    return user


def _assignment(task: Task, project: Project, assignee: User, actor: User) -> Assignment:
    return Assignment(
        email=assignee.email,
        full_name=assignee.full_name,
        task_title=task.title,
        project_name=project.name,
        assigned_by=actor.full_name or actor.email,
    )


async def create_task(
    session: AsyncSession, project_id: uuid.UUID, user: User, data: TaskCreate
) -> tuple[Task, Assignment | None]:
    """A new task; the assignment to announce, if it has an assignee."""
    project, _ = await get_project(session, project_id, user)
    assignee = await _assignee(session, project.team_id, data.assignee_id) if data.assignee_id else None
    task = Task(project_id=project.id, created_by_id=user.id, **data.model_dump())
    task.project, task.assignee, task.created_by = project, assignee, user
    session.add(task)
    await session.flush()
    assignment = _assignment(task, project, assignee, user) if assignee and assignee.id != user.id else None
    return task, assignment


# Task lists: plain rows with TaskPublic's fields (see rows.py), the caller's membership in the join (no separate
# access check while there are rows) and the total in the same statement (an uncorrelated subquery, counted once).
_ASSIGNEE = aliased(User, name="assignee")
_CREATOR = aliased(User, name="created_by")
_LIST = RowShape(
    TaskPublic,
    Task,
    {"project": (Project, Ref), "assignee": (_ASSIGNEE, UserRef), "created_by": (_CREATOR, UserRef)},
)


# What a task list may compare, by bind parameter name. A list's statements depend only on which of these it
# compares, so each combination is built once, its cache key with it, and every request only binds its values.
_COMPARED: dict[str, Any] = {
    "project_id": Task.project_id,
    "assignee_id": Task.assignee_id,
    "status": Task.status,
    "priority": Task.priority,
}


@functools.cache
def _list_statements(compared: tuple[str, ...]) -> ListStatements:
    """The page and count statements of task lists comparing these columns (values bound at execution)."""
    where = [col(_COMPARED[name]) == bindparam(name) for name in compared]
    member = is_member_clause(Project.team_id, bindparam("user_id"))
    visible = select(Task.id).join(Project, col(Project.id) == Task.project_id).join(Membership, member).where(*where)
    rows = (
        sa_select(*_LIST.columns)
        .select_from(Task)
        .join(Project, col(Project.id) == Task.project_id)
        .join(Membership, member)
        .outerjoin(_ASSIGNEE, col(_ASSIGNEE.id) == Task.assignee_id)
        .join(_CREATOR, col(_CREATOR.id) == Task.created_by_id)
        .where(*where)
        .order_by(col(Task.created_at).desc(), col(Task.id).desc())
    )
    return ListStatements.paged(_LIST, rows, visible)


def _bound(user: User, compare: dict[str, object]) -> tuple[ListStatements, dict[str, object]]:
    """The statements listing the tasks in the caller's teams whose columns equal `compare`'s given values (None:
    not compared), newest first, and the values to bind."""
    values = {name: value for name, value in compare.items() if value is not None}
    return _list_statements(tuple(sorted(values))), {**values, "user_id": user.id}


def _filters(filters: TaskFilters) -> dict[str, object]:
    return {"status": filters.status, "priority": filters.priority, "assignee_id": filters.assignee_id}


async def list_project_tasks(
    session: AsyncSession,
    project_id: uuid.UUID,
    user: User,
    filters: TaskFilters,
    *,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """A project's tasks, newest first, filtered, as TaskPublic's fields; 404 for non-members."""
    compare = {"project_id": project_id, **_filters(filters)}
    # No rows: a project the caller cannot see (404), or a page past the end.
    statements, params = _bound(user, compare)
    check_access = functools.partial(get_project, session, project_id, user)
    return await statements.read(await session.connection(), params, limit, offset, check_access=check_access)


async def list_my_tasks(
    session: AsyncSession,
    user: User,
    status: TaskStatus | None,
    *,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Tasks assigned to the caller in the teams they belong to, newest first, as TaskPublic's fields."""
    compare = {**_filters(TaskFilters(status=status)), "assignee_id": user.id}
    statements, params = _bound(user, compare)
    return await statements.read(await session.connection(), params, limit, offset)


async def _get_task(
    session: AsyncSession, task_id: uuid.UUID, user: User, *, for_update: bool = False
) -> tuple[Task, TeamRole]:
    """A task and the caller's role in its team; 404 for non-members."""
    query = (
        select(Task, Membership.role)
        .join(Project, col(Project.id) == Task.project_id)
        .where(Task.id == task_id)
        .options(*_EAGER)
    )
    return await with_role(session, query, Project.team_id, user, for_update=for_update, missing="Task not found.")


async def get_task(session: AsyncSession, task_id: uuid.UUID, user: User) -> Task:
    """One task, for members of its team."""
    task, _ = await _get_task(session, task_id, user)
    return task


async def update_task(
    session: AsyncSession,
    task_id: uuid.UUID,
    user: User,
    data: TaskUpdate,
    expected: ExpectedVersions,
) -> tuple[Task, Assignment | None]:
    """Change a task, refusing a stale version; the assignment to announce if the assignee changed."""
    task, _ = await _get_task(session, task_id, user, for_update=True)
    check_version(expected, task.version)
    changes = data.model_dump(exclude_unset=True)
    reassign = "assignee_id" in changes
    new_assignee_id = changes.pop("assignee_id", None)
    changed = apply_changes(task, changes)
    assignment = None
    if reassign and new_assignee_id != task.assignee_id:
        assignee = await _assignee(session, task.project.team_id, new_assignee_id) if new_assignee_id else None
        task.assignee_id, task.assignee = new_assignee_id, assignee
        changed = True
        if assignee is not None and assignee.id != user.id:
            assignment = _assignment(task, task.project, assignee, user)
    if changed:
        bump_version(task)
        session.add(task)
        await session.flush()
    return task, assignment


async def delete_task(session: AsyncSession, task_id: uuid.UUID, user: User, expected: ExpectedVersions) -> None:
    """Delete a task (its creator, or the team's owners and admins), refusing a stale version."""
    task, role = await _get_task(session, task_id, user, for_update=True)
    check_version(expected, task.version)
    if task.created_by_id != user.id and not role.can_manage:
        raise PermissionDenied("Only the task's creator or team owners and admins can delete it.")
    await session.delete(task)
    await session.flush()
