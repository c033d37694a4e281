"""Projects in teams."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.api.conditional import ExpectedVersionsDep, set_etag
from app.api.deps import CurrentUser, PaginationDep, SessionDep
from app.api.errors import problem_responses
from app.api.routes import API_PREFIX
from app.models.common import Page
from app.models.projects import Project, ProjectCreate, ProjectPublic, ProjectUpdate, TaskCounts
from app.services import projects as projects_service

router = APIRouter(prefix=API_PREFIX, tags=["projects"])


def _public(project: Project, task_counts: TaskCounts) -> ProjectPublic:
    return ProjectPublic.model_validate(project, update={"task_counts": task_counts})


@router.post(
    "/teams/{team_id}/projects",
    response_model=ProjectPublic,
    status_code=status.HTTP_201_CREATED,
)
async def create_project(
    session: SessionDep,
    user: CurrentUser,
    team_id: uuid.UUID,
    data: ProjectCreate,
    response: Response,
) -> ProjectPublic:
    """Create a project in a team the caller belongs to."""
    project = await projects_service.create_project(session, team_id, user, data)
    set_etag(response, project.version)
    return _public(project, TaskCounts())


@router.get("/projects", response_model=Page[ProjectPublic], responses=problem_responses(404))  # ?team_id= not yours
async def list_projects(
    session: SessionDep,
    user: CurrentUser,
    page: PaginationDep,
    team_id: Annotated[uuid.UUID | None, Query(description="Only projects of this team.")] = None,
) -> Response:
    """Projects in the caller's teams, newest first."""
    items, total = await projects_service.list_projects(
        session, user, team_id=team_id, limit=page.limit, offset=page.offset
    )
    return page.json_page(items, total)


@router.get("/projects/{project_id}", response_model=ProjectPublic)
async def read_project(
    session: SessionDep, user: CurrentUser, project_id: uuid.UUID, response: Response
) -> ProjectPublic:
    """One project with its task counts; the ETag carries its version."""
    project, _ = await projects_service.get_project(session, project_id, user)
    set_etag(response, project.version)
    return _public(project, await projects_service.task_counts(session, project))


@router.patch(
    "/projects/{project_id}",
    response_model=ProjectPublic,
    responses=problem_responses(403),
)
async def update_project(
    session: SessionDep,
    user: CurrentUser,
    project_id: uuid.UUID,
    data: ProjectUpdate,
    response: Response,
    expected: ExpectedVersionsDep,
) -> ProjectPublic:
    """Change a project (owners and admins); a stale If-Match gets 412."""
    project = await projects_service.update_project(session, project_id, user, data, expected)
    set_etag(response, project.version)
    return _public(project, await projects_service.task_counts(session, project))


@router.delete(
    "/projects/{project_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403),
)
async def delete_project(
    session: SessionDep,
    user: CurrentUser,
    project_id: uuid.UUID,
    expected: ExpectedVersionsDep,
) -> None:
    """Delete a project and all its tasks (owners and admins)."""
    await projects_service.delete_project(session, project_id, user, expected)
