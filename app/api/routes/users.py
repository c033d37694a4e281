"""The caller's profile, password and tasks; the user list for superusers."""

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status

from app.api.deps import (
    CurrentUser,
    DatabaseDep,
    PaginationDep,
    SessionDep,
    SettingsDep,
    Superuser,
    require_local_auth,
)
from app.api.errors import problem_responses
from app.api.routes import API_PREFIX
from app.api.throttling import password_attempt
from app.models.common import Page
from app.models.tasks import TaskPublic, TaskStatus
from app.models.users import PasswordChange, UserPublic, UserUpdate
from app.services import tasks as tasks_service
from app.services import users as users_service

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])


@router.get("/me", response_model=UserPublic)
async def read_me(user: CurrentUser) -> UserPublic:
    """The caller's profile."""
    return UserPublic.model_validate(user)


@router.patch("/me", response_model=UserPublic, responses=problem_responses(409))
async def update_me(session: SessionDep, user: CurrentUser, data: UserUpdate) -> UserPublic:
    """Change the caller's name or email."""
    return UserPublic.model_validate(await users_service.update_profile(session, user, data))


@router.put(
    "/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[Depends(require_local_auth)],
    responses=problem_responses(403, 404, 429),
)
async def change_password(
    request: Request,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    user: CurrentUser,
    data: PasswordChange,
) -> None:
    """Change the caller's password (local auth only); every earlier token stops working, including this one.

    A wrong current password is 403 and counts as a failed login: a stolen token cannot guess the password.
    """
    async with password_attempt(request, session, database, settings, user.email):
        await users_service.change_password(session, user, data)


@router.get("/me/tasks", response_model=Page[TaskPublic])
async def list_my_tasks(
    session: SessionDep,
    user: CurrentUser,
    page: PaginationDep,
    status: Annotated[TaskStatus | None, Query(description="Only tasks in this status.")] = None,
) -> Response:
    """Tasks assigned to the caller across their teams, newest first."""
    tasks, total = await tasks_service.list_my_tasks(session, user, status, limit=page.limit, offset=page.offset)
    return page.json_page(tasks, total)


@router.get("", response_model=Page[UserPublic], responses=problem_responses(403))
async def list_users(session: SessionDep, _: Superuser, page: PaginationDep) -> Response:
    """Every user (superusers only)."""
    users, total = await users_service.list_users(session, limit=page.limit, offset=page.offset)
    return page.json_page(users, total)
