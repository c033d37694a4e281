"""Projects: created in a team, visible to its members, changed by its owners and admins."""

import functools
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam, func, true
from sqlalchemy import select as sa_select
from sqlalchemy.orm import aliased, joinedload
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.errors import PermissionDenied
from app.models.common import Ref
from app.models.projects import Project, ProjectCreate, ProjectPublic, ProjectUpdate, TaskCounts
from app.models.tasks import Task, TaskStatus
from app.models.teams import Membership, Team, TeamRole
from app.models.users import User, UserRef
from app.services.concurrency import ExpectedVersions, apply_changes, bump_version, check_version
from app.services.rows import ListStatements, RowShape
from app.services.teams import is_member_clause, require_membership, with_role

_EAGER = (joinedload(Project.team), joinedload(Project.created_by))  # type: ignore[arg-type]


async def _task_counts(session: AsyncSession, project_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, TaskCounts]:
    """Tasks per status for many projects in one statement."""
    counts = {project_id: TaskCounts() for project_id in project_ids}
    if not project_ids:
        return counts
    query = (
        select(Task.project_id, Task.status, func.count())
        .where(col(Task.project_id).in_(project_ids))
        .group_by(col(Task.project_id), col(Task.status))
    )
    for project_id, status, count in (await session.exec(query)).all():
        setattr(counts[project_id], TaskStatus(status).value, count)
    return counts


async def task_counts(session: AsyncSession, project: Project) -> TaskCounts:
    """One project's tasks per status."""
    return (await _task_counts(session, [project.id]))[project.id]


async def get_project(
    session: AsyncSession,
    project_id: uuid.UUID,
    user: User,
    *,
    for_update: bool = False,
) -> tuple[Project, TeamRole]:
    """A project and the caller's role in its team; 404 for non-members."""
    query = select(Project, Membership.role).where(Project.id == project_id).options(*_EAGER)
    return await with_role(session, query, Project.team_id, user, for_update=for_update, missing="Project not found.")


async def create_project(session: AsyncSession, team_id: uuid.UUID, user: User, data: ProjectCreate) -> Project:
    """A new project (it has no tasks yet) in a team the caller belongs to."""
    membership = await require_membership(session, team_id, user)
    project = Project(
        team_id=team_id,
        created_by_id=user.id,
        name=data.name,
        description=data.description,
    )
    project.team = membership.team
    project.created_by = user
    session.add(project)
    await session.flush()
    return project


# The project list: plain rows with ProjectPublic's fields (see rows.py), each project's task counts from one
# aggregate over its tasks (a lateral join) and the total in the same statement.
_CREATOR = aliased(User, name="created_by")
_COUNTS = (
    select(*(func.count().filter(col(Task.status) == status).label(status.value) for status in TaskStatus))
    .where(col(Task.project_id) == Project.id)
    .lateral("task_counts")
)
_LIST = RowShape(
    ProjectPublic,
    Project,
    {"team": (Team, Ref), "created_by": (_CREATOR, UserRef), "task_counts": (_COUNTS.c, TaskCounts)},
)


@functools.cache
def _list_statements(by_team: bool) -> ListStatements:
    """The page and count statements of project lists, of all the caller's teams or one (values bound at
    execution: built once, their cache key with them)."""
    where = [col(Project.team_id) == bindparam("team_id")] if by_team else []
    member = is_member_clause(Project.team_id, bindparam("user_id"))
    visible = select(Project.id).join(Membership, member).where(*where)
    rows = (
        sa_select(*_LIST.columns)
        .select_from(Project)
        .join(Membership, member)
        .join(Team, col(Team.id) == Project.team_id)
        .join(_CREATOR, col(_CREATOR.id) == Project.created_by_id)
        .join(_COUNTS, true())
        .where(*where)
        .order_by(col(Project.created_at).desc(), col(Project.id).desc())
    )
    return ListStatements.paged(_LIST, rows, visible)


async def list_projects(
    session: AsyncSession,
    user: User,
    *,
    team_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    """Projects in the caller's teams (or one of them: 404 when the caller is not in it), newest first, with their
    task counts, as ProjectPublic's fields."""
    statements = _list_statements(team_id is not None)
    params = {"user_id": user.id, "team_id": team_id}
    # A team you are not in is a 404, not an empty list.
    check_access = None if team_id is None else lambda: require_membership(session, team_id, user)
    return await statements.read(await session.connection(), params, limit, offset, check_access=check_access)


def _require_manager(role: TeamRole) -> None:
    if not role.can_manage:
        raise PermissionDenied("Only team owners and admins can change or delete projects.")


async def update_project(
    session: AsyncSession,
    project_id: uuid.UUID,
    user: User,
    data: ProjectUpdate,
    expected: ExpectedVersions,
) -> Project:
    """Change a project (owners/admins), refusing a stale version."""
    project, role = await get_project(session, project_id, user, for_update=True)
    _require_manager(role)
    check_version(expected, project.version)
    if apply_changes(project, data.model_dump(exclude_unset=True)):
        bump_version(project)
        session.add(project)
        await session.flush()
    return project


async def delete_project(session: AsyncSession, project_id: uuid.UUID, user: User, expected: ExpectedVersions) -> None:
    """Delete a project and its tasks (owners/admins), refusing a stale version."""
    project, role = await get_project(session, project_id, user, for_update=True)
    _require_manager(role)
    check_version(expected, project.version)
    await session.delete(project)
    await session.flush()
