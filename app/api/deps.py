"""Dependencies every route uses: settings, the database and session, the current user, pagination."""

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict

from fastapi import Depends, HTTPException, Query, Request, Response, params
from fastapi.security import OAuth2PasswordBearer
from pydantic_core import to_json
from sqlmodel.ext.asyncio.session import AsyncSession

from app.core.config import AuthMode, Settings
from app.core.db import Database, is_read_only
from app.core.errors import NotAuthenticated, NotFound, PermissionDenied
from app.core.security import JWKSVerifier, decode_local_token
from app.models.users import User
from app.services import users as users_service

MAX_PAGE_SIZE = 200
# Far beyond any real list, and well inside PostgreSQL's bigint OFFSET.
MAX_OFFSET = 1_000_000_000


class AppState(TypedDict):
    """What the application's lifespan creates and hands to every request (`request.state`)."""

    database: Database
    jwks_verifier: JWKSVerifier | None


# Dependencies are `async def` even when they await nothing: FastAPI runs plain `def` ones in a thread pool. The
# ones every request solves (session, current user) read the request's state themselves rather than through
# further dependencies: each dependency is work for every request.


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


async def get_database(request: Request) -> Database:
    database: Database = request.state.database
    return database


DatabaseDep = Annotated[Database, Depends(get_database)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session and transaction per request, committed before the response is sent (GETs: no transaction)."""
    database: Database = request.state.database
    async with database.session(read_only=is_read_only(request.method)) as session:
        yield session


# scope="function": the commit happens before the response goes out, so a failed commit is an error response
# and background tasks (emails) only run after a successful commit.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

_bearer = OAuth2PasswordBearer(tokenUrl="/api/v1/auth/token", auto_error=False)


async def get_current_user(
    request: Request,
    session: SessionDep,
    token: Annotated[str | None, Depends(_bearer)],
) -> User:
    """The authenticated caller: a local user, or one provisioned from a managed-auth token."""
    settings: Settings = request.app.state.settings
    if not token:
        raise NotAuthenticated("Not authenticated: send an 'Authorization: Bearer <token>' header.")
    if settings.AUTH_MODE is AuthMode.jwks:
        verifier: JWKSVerifier = request.state.jwks_verifier
        identity = await verifier.verify(token)
        return await users_service.provision_external_user(session, identity)
    return await users_service.get_active_user(session, decode_local_token(token, settings))


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_verified_email(
    request: Request, user: CurrentUser, token: Annotated[str | None, Depends(_bearer)]
) -> str:
    """The caller's email address as verified: a local account's own, or the managed-auth token's verified claim
    (not the profile's, which its owner may change)."""
    settings: Settings = request.app.state.settings
    if settings.AUTH_MODE is not AuthMode.jwks:
        return user.email
    verifier: JWKSVerifier = request.state.jwks_verifier
    identity = await verifier.verify(token or "")  # checked once already: the same token, the same answer
    if identity.email is None or not identity.email_verified:
        raise PermissionDenied("Your access token carries no verified email address.")
    return identity.email


VerifiedEmail = Annotated[str, Depends(get_verified_email)]


async def get_superuser(user: CurrentUser) -> User:
    """The caller, who must be a superuser."""
    if not user.is_superuser:
        raise PermissionDenied("This needs superuser rights.")
    return user


Superuser = Annotated[User, Depends(get_superuser)]


async def require_local_auth(settings: SettingsDep) -> None:
    """Local sign-up, login and passwords do not exist when a managed provider authenticates users."""
    if settings.AUTH_MODE is not AuthMode.local:
        raise NotFound("Local authentication is disabled: this service uses a managed identity provider.")


@dataclass(frozen=True)
class Pagination:
    """The page a list request asks for."""

    limit: int
    offset: int

    def json_page(self, rows: Sequence[Mapping[str, Any]], total: int) -> Response:
        """The response from rows that carry exactly the route's `*Public` fields (services/rows.py), as JSON.

        The rows come from our own SELECT of those fields, so they are serialised as they are, without building
        and validating a model per row first (most of a long list's cost). The route keeps its `response_model`
        for the API document, and tests compare these bodies with the model's own serialisation.
        """
        page = {"items": rows, "total": total, "limit": self.limit, "offset": self.offset}
        return Response(to_json(page), media_type="application/json")


async def get_pagination(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> Pagination:
    return Pagination(limit=limit, offset=offset)


PaginationDep = Annotated[Pagination, Depends(get_pagination)]


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


async def require_json_body(request: Request) -> None:
    """A route that reads a JSON body answers 415 to another declared type (FastAPI would say 'field required')."""
    body_field = getattr(request.scope.get("route"), "body_field", None)  # tests/test_library_internals.py
    if body_field is None or isinstance(body_field.field_info, params.Form):
        return
    content_type = request.headers.get("content-type")
    # Without a Content-Type the body is read as JSON.
    if content_type is not None and not _is_json(content_type):
        raise HTTPException(415, "The body must be JSON: send it with Content-Type: application/json.")
