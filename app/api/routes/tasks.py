"""Tasks: created and listed in a project; read, changed and deleted by id."""

import uuid
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Query, Response, status

from app.api.conditional import ExpectedVersionsDep, set_etag
from app.api.deps import CurrentUser, PaginationDep, SessionDep, SettingsDep
from app.api.errors import problem_responses
from app.api.routes import API_PREFIX
from app.models.common import Page
from app.models.tasks import (
    TaskCreate,
    TaskPriority,
    TaskPublic,
    TaskStatus,
    TaskUpdate,
)
from app.services import tasks as tasks_service
from app.services.notifications import send_assignment_email

router = APIRouter(prefix=API_PREFIX, tags=["tasks"])


@router.post(
    "/projects/{project_id}/tasks",
    response_model=TaskPublic,
    status_code=status.HTTP_201_CREATED,
)
async def create_task(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    project_id: uuid.UUID,
    data: TaskCreate,
    response: Response,
    background: BackgroundTasks,
) -> TaskPublic:
    """Create a task; its assignee is emailed once the task is saved."""
    task, assignment = await tasks_service.create_task(session, project_id, user, data)
    if assignment is not None:
        background.add_task(send_assignment_email, settings, assignment)
    set_etag(response, task.version)
    return TaskPublic.model_validate(task)


@router.get("/projects/{project_id}/tasks", response_model=Page[TaskPublic])
async def list_project_tasks(
    session: SessionDep,
    user: CurrentUser,
    project_id: uuid.UUID,
    page: PaginationDep,
    status: Annotated[TaskStatus | None, Query()] = None,
    priority: Annotated[TaskPriority | None, Query()] = None,
    assignee_id: Annotated[uuid.UUID | None, Query()] = None,
) -> Response:
    """A project's tasks, newest first, optionally filtered."""
    filters = tasks_service.TaskFilters(status=status, priority=priority, assignee_id=assignee_id)
    tasks, total = await tasks_service.list_project_tasks(
        session, project_id, user, filters, limit=page.limit, offset=page.offset
    )
    return page.json_page(tasks, total)


@router.get("/tasks/{task_id}", response_model=TaskPublic)
async def read_task(session: SessionDep, user: CurrentUser, task_id: uuid.UUID, response: Response) -> TaskPublic:
    """One task; the ETag carries its version."""
    task = await tasks_service.get_task(session, task_id, user)
    set_etag(response, task.version)
    return TaskPublic.model_validate(task)


@router.patch("/tasks/{task_id}", response_model=TaskPublic)
async def update_task(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    task_id: uuid.UUID,
    data: TaskUpdate,
    response: Response,
    background: BackgroundTasks,
    expected: ExpectedVersionsDep,
) -> TaskPublic:
    """Change a task; a new assignee is emailed once the change is saved; a stale If-Match gets 412."""
    task, assignment = await tasks_service.update_task(session, task_id, user, data, expected)
    if assignment is not None:
        background.add_task(send_assignment_email, settings, assignment)
    set_etag(response, task.version)
    return TaskPublic.model_validate(task)


@router.delete(
    "/tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(403),
)
async def delete_task(
    session: SessionDep, user: CurrentUser, task_id: uuid.UUID, expected: ExpectedVersionsDep
) -> None:
    """Delete a task (its creator, or team owners and admins)."""
    await tasks_service.delete_task(session, task_id, user, expected)
