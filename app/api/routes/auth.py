"""Local sign-up and login (AUTH_MODE=local)."""

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request, status

from app.api.deps import DatabaseDep, SessionDep, SettingsDep, require_local_auth
from app.api.errors import problem_responses
from app.api.routes import API_PREFIX
from app.api.throttling import password_attempt
from app.core.security import create_access_token
from app.models.common import Text
from app.models.users import TokenResponse, UserCreate, UserPublic
from app.services import users as users_service

router = APIRouter(prefix=f"{API_PREFIX}/auth", tags=["auth"], dependencies=[Depends(require_local_auth)])


@router.post(
    "/signup",
    response_model=UserPublic,
    status_code=status.HTTP_201_CREATED,
    responses=problem_responses(404, 409),
)
async def signup(session: SessionDep, data: UserCreate) -> UserPublic:
    """Register with an email and a password."""
    user = await users_service.create_user(session, data)
    return UserPublic.model_validate(user)


@router.post("/token", response_model=TokenResponse, responses=problem_responses(401, 404, 429))
async def login(
    request: Request,
    session: SessionDep,
    database: DatabaseDep,
    settings: SettingsDep,
    username: Annotated[Text, Form(max_length=320, description="Your email.")],
    password: Annotated[str, Form(max_length=128)],
) -> TokenResponse:
    """Exchange an email (as `username`) and password for a bearer token (the OAuth2 password form)."""
    async with password_attempt(request, session, database, settings, username):
        user = await users_service.authenticate(session, username, password)
    token = create_access_token(str(user.id), settings, user.token_version)
    return TokenResponse(access_token=token.token, expires_in=token.expires_in)
